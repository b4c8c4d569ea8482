// The tiny base image: Debian's busybox-static plus a symlink per applet and
// just enough /etc for a `dev` user. Used by smoke tests and CI because it
// builds in milliseconds from a package already on the node.

import { execFile } from "node:child_process";
import { chmod, chown, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { LayerBuildError } from "./errors.ts";
import type { LayerStore } from "./layer-store.ts";

const execFileP = promisify(execFile);

export interface BusyboxLayerOptions {
  /** Host path of a statically linked busybox; default /bin/busybox (package busybox-static). */
  busyboxPath?: string;
}

const passwd = "root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000:dev:/home/dev:/bin/sh\n";
const group = "root:x:0:\ndev:x:1000:\n";

export async function buildBusyboxLayer(store: LayerStore, opts: BusyboxLayerOptions = {}): Promise<string> {
  const busybox = opts.busyboxPath ?? "/bin/busybox";
  let applets: string[];
  try {
    const { stdout } = await execFileP(busybox, ["--list-full"]);
    applets = stdout.split("\n").filter((l) => l.trim() !== "");
  } catch (err) {
    throw new LayerBuildError(`cannot run ${busybox} (is busybox-static installed?)`, { cause: err });
  }
  return store.publish(async (dir) => {
    const dirs: Array<[string, number]> = [
      ["bin", 0o755],
      ["sbin", 0o755],
      ["usr", 0o755],
      ["usr/bin", 0o755],
      ["usr/sbin", 0o755],
      ["etc", 0o755],
      ["root", 0o700],
      ["home", 0o755],
      ["tmp", 0o1777],
      ["var", 0o755],
      ["var/tmp", 0o1777],
      ["proc", 0o555],
      ["sys", 0o555],
      ["dev", 0o755],
      ["run", 0o755],
    ];
    for (const [d, mode] of dirs) {
      await mkdir(join(dir, d), { recursive: true });
      await chmod(join(dir, d), mode);
    }
    for (const d of ["home/dev", "workspace"]) {
      await mkdir(join(dir, d));
      await chmod(join(dir, d), 0o755);
      await chown(join(dir, d), 1000, 1000);
    }
    await copyFile(busybox, join(dir, "bin/busybox"));
    await chmod(join(dir, "bin/busybox"), 0o755);
    for (const applet of applets) {
      if (applet === "bin/busybox") continue;
      const target = join(dir, applet);
      await mkdir(dirname(target), { recursive: true });
      await symlink("/bin/busybox", target).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
    }
    // Debian's busybox-static has no nohup applet; a two-line shim does its job.
    if (!applets.includes("usr/bin/nohup")) {
      await writeFile(join(dir, "usr/bin/nohup"), "#!/bin/sh\ntrap '' HUP\nexec \"$@\"\n");
      await chmod(join(dir, "usr/bin/nohup"), 0o755);
    }
    await writeFile(join(dir, "etc/passwd"), passwd, { mode: 0o644 });
    await writeFile(join(dir, "etc/group"), group, { mode: 0o644 });
    await chmod(join(dir, "etc/passwd"), 0o644);
    await chmod(join(dir, "etc/group"), 0o644);
  });
}
