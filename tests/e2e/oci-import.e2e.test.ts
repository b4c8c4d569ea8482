// Template images end to end (issue 7). A Debian template with git and
// python3 is built by a node (`templates push --follow`), a box from it runs
// both, and pushing the same spec again is a cache hit. An imported OCI
// image: a busybox-based image in an
// OCI layout archive with two layers (the second removes a file with a
// whiteout and empties a directory with an opaque marker) is uploaded with
// `boxyard images push`, named by digest in a template whose build (`push
// --follow`) unpacks it on the node, and a box made from it runs commands in
// real gVisor and sees exactly the union of the layers, with the image
// config's Env under the template's env. A malicious archive
// is refused at upload naming the entry. Ends with a leak census.
import { execFile } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildBusyboxLayer, buildImageArchive, LayerStore, writeTar } from "@boxyard/images";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNodeClean, LAYERS, startTestServer, type TestServer } from "./kit.ts";

const run = promisify(execFile);
const NODE = { prefix: "byoc", subnet: "10.220.0.0/24" };

let t: TestServer;
const ok = (args: string[]) => t.ok(args);
const cli = (args: string[]) => t.cli(args);

/** A busybox root filesystem as GNU tar writes it, plus two files the upper layer takes away. */
async function busyboxLayerTar(): Promise<Buffer> {
  const store = new LayerStore({ root: join(t.dataDir, "build-busybox") });
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
  scratchBefore = await scratchEntries();
  t = await startTestServer({ name: "e2e-oci", node: NODE, cliEnv: { BOXYARD_ORG: "acme" } });
}, 180_000);

afterAll(async () => {
  await t?.release();
}, 120_000);

describe("a Debian template built by the node", () => {
  it("builds git and python3 into the image, runs them in a box, and rebuilds the same spec as a cache hit", async () => {
    const tpl = join(t.home, "py.yaml");
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
    const built = buildImageArchive({
      format: "oci",
      layers: [await busyboxLayerTar(), upper],
      gzip: true,
      env: ["PATH=/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TOOL_HOME=/opt/tool", "GREETING=from-image"],
    });
    digest = built.digest;
    const file = join(t.home, "image.tar");
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
    const evilFile = join(t.home, "evil.tar");
    await writeFile(evilFile, evil.archive);
    const refused = await cli(["images", "push", evilFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('"bin/etc/passwd": goes through the symlink bin');
  });

  it("builds the template's image on the node (push --follow) and runs a box from it in gVisor", async () => {
    const tpl = join(t.home, "imported.yaml");
    await writeFile(
      tpl,
      `image:\n  oci: "${digest}"\nresources: { memoryMiB: 256 }\nenv: { GREETING: from-template }\n`,
    );
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
    // The image config's Env is the base of the box's environment; the template's env goes over it.
    const env = await ok(["exec", "oci", "--", "sh", "-c", 'echo "$PATH|$TOOL_HOME|$GREETING"']);
    expect(env.stdout).toBe("/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin|/opt/tool|from-template\n");
    const show = JSON.parse((await ok(["show", "oci", "--json"])).stdout);
    expect(show).toMatchObject({ template: "imported", templateVersion: 1, actualState: "running" });
  }, 180_000);

  it("deletes the box and leaves nothing behind on the node", async () => {
    await ok(["rm", "oci", "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
    // Nothing half-unpacked is left in the layer store's scratch space.
    // (The cache is the machine's: only what appeared during this file counts.)
    expect((await scratchEntries()).filter((e) => !scratchBefore.includes(e))).toEqual([]);
  });

  it("stops cleanly on SIGTERM", async () => {
    t.server.child.kill("SIGTERM");
    expect(await t.server.exited).toBe(0);
  });
});
