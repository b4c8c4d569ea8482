// Template images end to end (issue 7). A Debian template with git and
// python3 is built by a node (`templates push --follow`), a box from it runs
// both, and pushing the same spec again is a cache hit. An imported OCI
// image: a busybox-based image in an
// OCI layout archive with two layers (the second removes a file with a
// whiteout and empties a directory with an opaque marker) is uploaded with
// `boxyard images push`, named by digest in a template whose build (`push
// --follow`) unpacks it on the node, and a box made from it runs commands in
// real gVisor and sees exactly the union of the layers. A malicious archive
// is refused at upload naming the entry. Ends with a leak census.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildBusyboxLayer, buildImageArchive, LayerStore, writeTar } from "@boxyard/images";
import { census } from "@boxyard/netns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BOXYARD_BIN,
  ensureBuilt,
  type ServerProcess,
  startServerProcess,
} from "../../apps/server/src/testing/server-process.ts";
import { releaseTestNode } from "./node-cleanup.ts";

const run = promisify(execFile);
const PREFIX = "byoc";
const SUBNET = "10.220.0.0/24";
// Debian layers are shared with the other tests on this machine (an mmdebstrap build takes a minute or more);
// the imported layer is deterministic, so every run publishes the same digest there.
const LAYERS = process.env.BOXYARD_IMAGE_CACHE ?? "/var/cache/boxyard/images";

let server: ServerProcess;
let dataDir: string;
let home: string;
let token: string;

function cli(args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(BOXYARD_BIN, args, {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        BOXYARD_URL: server.url,
        BOXYARD_TOKEN: token,
        BOXYARD_ORG: "acme",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(args: string[]) {
  const r = await cli(args);
  expect(r.code, `boxyard ${args.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

/** A busybox root filesystem as GNU tar writes it, plus two files the upper layer takes away. */
async function busyboxLayerTar(): Promise<Buffer> {
  const store = new LayerStore({ root: join(dataDir, "build-busybox") });
  const root = store.pathOf(await buildBusyboxLayer(store));
  await writeFile(join(root, "etc/remove-me"), "lower\n");
  await mkdir(join(root, "opt/cache"), { recursive: true });
  await writeFile(join(root, "opt/cache/old"), "lower\n");
  const { stdout } = await run("tar", ["--numeric-owner", "-C", root, "-cf", "-", "."], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** What is in the shared layer store's scratch space (half-built or half-unpacked layers). */
async function scratchEntries(): Promise<string[]> {
  return readdir(join(LAYERS, "tmp")).catch(() => []);
}
let scratchBefore: string[] = [];

beforeAll(async () => {
  await ensureBuilt();
  scratchBefore = await scratchEntries();
  dataDir = await mkdtemp(join(tmpdir(), "boxyard-e2e-oci-"));
  home = join(dataDir, "home");
  await mkdir(home);
  // The imported layer lands in this server's own layer store (DATA_DIR/node/images), removed with it.
  server = await startServerProcess({
    dataDir,
    env: { BOXYARD_NETWORK_PREFIX: PREFIX, BOXYARD_BOX_SUBNET: SUBNET, BOXYARD_LAYER_DIR: LAYERS },
  });
  token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  await ok(["orgs", "create", "acme"]);
}, 180_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await releaseTestNode({ dataDir, prefix: PREFIX, subnet: SUBNET });
  await rm(dataDir, { recursive: true, force: true });
}, 120_000);

describe("a Debian template built by the node", () => {
  it("builds git and python3 into the image, runs them in a box, and rebuilds the same spec as a cache hit", async () => {
    const tpl = join(home, "py.yaml");
    await writeFile(tpl, "image:\n  base: debian-bookworm\n  packages: [git, python3]\n");
    const first = await ok(["templates", "push", tpl, "--follow"]);
    expect(first.stderr).toMatch(/py@1: ready after [\d.]+s/);
    const b1 = JSON.parse((await ok(["templates", "build", "py@1", "--json"])).stdout);
    process.stderr.write(
      `debian build with git and python3: ${b1.elapsedSeconds}s (cache hit: ${b1.cacheHit})\n`,
    );
    await ok(["create", "py", "--template", "py", "--wait"]);
    const r = await ok(["exec", "py", "--", "sh", "-c", "git --version; python3 --version"]);
    expect(r.stdout).toMatch(/^git version 2\.[\d.]+\nPython 3\.[\d.]+\n$/);
    await ok(["rm", "py", "--wait"]);
    const second = await ok(["templates", "push", tpl, "--follow"]);
    expect(second.stderr).toContain("py@2: ready after");
    expect(second.stderr).toContain("(cache hit: nothing was rebuilt)");
    expect(second.stdout).toContain("cache hit");
    const b2 = JSON.parse((await ok(["templates", "build", "py@2", "--json"])).stdout);
    expect(b2).toMatchObject({ status: "ready", cacheHit: true, layers: b1.layers });
  }, 900_000);
});

describe("a box from an imported OCI image", () => {
  let digest: string;

  it("uploads a two-layer OCI archive and refuses a malicious one", async () => {
    const upper = writeTar([
      { path: "etc/.wh.remove-me" },
      { path: "opt/cache/.wh..wh..opq" },
      { path: "opt/cache/new", content: "upper\n" },
      { path: "etc/motd", content: "imported through OCI\n" },
    ]);
    const built = buildImageArchive({ format: "oci", layers: [await busyboxLayerTar(), upper], gzip: true });
    digest = built.digest;
    const file = join(home, "image.tar");
    await writeFile(file, built.archive);
    const pushed = await ok(["images", "push", file]);
    expect(pushed.stdout.split("\n")[0]).toBe(digest);
    expect(pushed.stdout).toContain("OCI layout, 2 layer(s)");

    const evil = buildImageArchive({
      format: "docker",
      layers: [
        writeTar([
          { path: "bin", type: "symlink", linkname: "/" },
          { path: "bin/etc/passwd", content: "root::0:0::/:/bin/sh\n" },
        ]),
      ],
    });
    const evilFile = join(home, "evil.tar");
    await writeFile(evilFile, evil.archive);
    const refused = await cli(["images", "push", evilFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('"bin/etc/passwd": goes through the symlink bin');
  });

  it("builds the template's image on the node (push --follow) and runs a box from it in gVisor", async () => {
    const tpl = join(home, "imported.yaml");
    await writeFile(tpl, `image:\n  oci: "${digest}"\nresources: { memoryMiB: 256 }\n`);
    const build = await ok(["templates", "push", tpl, "--follow"]);
    expect(build.stdout).toContain("OCI image layout with 2 layer(s)");
    expect(build.stdout).toContain("every entry checked; layers unpacked");
    expect(build.stderr).toMatch(/imported@1: ready after [\d.]+s; layers sha256:[0-9a-f]{64}/);

    await ok(["create", "oci", "--template", "imported", "--wait"]);
    const r = await ok([
      "exec",
      "oci",
      "--",
      "sh",
      "-c",
      "cat /etc/motd; ls /opt/cache; test -e /etc/remove-me && echo present || echo whited-out; id -u; echo hi > /home/dev/f && cat /home/dev/f",
    ]);
    expect(r.stdout).toBe("imported through OCI\nnew\nwhited-out\n1000\nhi\n");
    const show = JSON.parse((await ok(["show", "oci", "--json"])).stdout);
    expect(show).toMatchObject({ template: "imported", templateVersion: 1, actualState: "running" });
  }, 180_000);

  it("deletes the box and leaves nothing behind on the node", async () => {
    await ok(["rm", "oci", "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    const c = await census(PREFIX);
    expect(c.netns).toEqual([]);
    expect(c.links.filter((l) => l !== `${PREFIX}br0`)).toEqual([]);
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .filter((l) => l.includes(join(dataDir, "node", "boxes")));
    expect(mounts).toEqual([]);
    const { stdout } = await run("runsc", [
      `--root=${join(dataDir, "node", "boxes", "runsc")}`,
      "list",
      "-quiet",
    ]);
    expect(stdout.trim()).toBe("");
    // Nothing half-unpacked is left in the layer store's scratch space.
    // (The cache is the machine's: only what appeared during this file counts.)
    expect((await scratchEntries()).filter((e) => !scratchBefore.includes(e))).toEqual([]);
  });

  it("stops cleanly on SIGTERM", async () => {
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
