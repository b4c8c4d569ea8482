// The Debian base image: `mmdebstrap --variant=minbase bookworm` with the
// packages every dev box expects (bash, coreutils, git, ca-certificates,
// sudo) plus the template's extras, and a `dev` user (uid 1000) with
// passwordless sudo. mmdebstrap takes tens of seconds, so the result is cached
// in the layer store's spec index: the same spec returns the same digest
// without rebuilding.

import { spawn } from "node:child_process";
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayerBuildError } from "./errors.ts";
import type { LayerStore } from "./layer-store.ts";

export interface DebianLayerOptions {
  /** Extra Debian packages beyond the base set. */
  packages?: string[];
  suite?: string;
  mirror?: string;
  /** Called with mmdebstrap's output lines, for progress logs. */
  onLog?: (line: string) => void;
}

// openssh-sftp-server: sftp, and scp (which speaks sftp since OpenSSH 9), through the gateway; rsync: `rsync -e ssh`
// needs it at both ends; procps: ps, which IDE servers use.
export const debianBasePackages = [
  "bash",
  "coreutils",
  "git",
  "ca-certificates",
  "sudo",
  "openssh-sftp-server",
  "rsync",
  "procps",
] as const;

const packageName = /^[a-z0-9][a-z0-9+.-]*$/;

function run(cmd: string, args: string[], onLog?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      if (onLog) for (const line of text.split("\n")) if (line !== "") onLog(line);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) =>
      reject(new LayerBuildError(`cannot run ${cmd}: ${err.message}`, { cause: err })),
    );
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new LayerBuildError(`${cmd} exited with ${code}: ${tail}`));
    });
  });
}

function buildSpec(opts: DebianLayerOptions) {
  const extra = [...new Set(opts.packages ?? [])].sort();
  for (const p of extra) {
    if (!packageName.test(p)) throw new LayerBuildError(`invalid Debian package name: ${JSON.stringify(p)}`);
  }
  const suite = opts.suite ?? "bookworm";
  const mirror = opts.mirror ?? "http://deb.debian.org/debian";
  return { kind: "debian", version: 1, suite, mirror, packages: [...debianBasePackages, ...extra] };
}

/** The layer an earlier build of the same spec published, if it is still in the store. */
export async function findDebianLayer(
  store: LayerStore,
  opts: DebianLayerOptions = {},
): Promise<string | null> {
  return store.lookupSpec(buildSpec(opts));
}

export async function buildDebianLayer(store: LayerStore, opts: DebianLayerOptions = {}): Promise<string> {
  const spec = buildSpec(opts);
  const { suite, mirror } = spec;
  const cached = await store.lookupSpec(spec);
  if (cached) {
    opts.onLog?.(`cache hit: this package set was built before as ${cached}`);
    return cached;
  }
  opts.onLog?.(`mmdebstrap ${suite} from ${mirror} with ${spec.packages.join(" ")}`);
  const digest = await store.publish(async (dir) => {
    // mmdebstrap wants to create the target itself.
    await rm(dir, { recursive: true, force: true });
    await run(
      "mmdebstrap",
      [
        "--variant=minbase",
        `--include=${spec.packages.join(",")}`,
        '--customize-hook=chroot "$1" useradd --create-home --uid 1000 --user-group --shell /bin/bash dev',
        '--customize-hook=rm -f "$1"/etc/hostname',
        suite,
        dir,
        mirror,
      ],
      opts.onLog,
    );
    const sudoers = join(dir, "etc/sudoers.d/dev");
    await writeFile(sudoers, "dev ALL=(ALL:ALL) NOPASSWD: ALL\n");
    await chmod(sudoers, 0o440);
    await mkdir(join(dir, "workspace"), { recursive: true });
    await chmod(join(dir, "workspace"), 0o755);
    await chown(join(dir, "workspace"), 1000, 1000);
    // apt's caches and logs differ from build to build and are useless in a box.
    for (const p of ["var/cache/apt/archives", "var/lib/apt/lists", "var/log"]) {
      await rm(join(dir, p), { recursive: true, force: true });
      await mkdir(join(dir, p), { recursive: true });
    }
  });
  await store.recordSpec(spec, digest);
  return digest;
}
