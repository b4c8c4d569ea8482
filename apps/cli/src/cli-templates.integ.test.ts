// Template image builds from the built `boxyard` CLI (issue 7): `templates
// push --follow` prints the build's log and phases and exits 0 when the image
// is ready, 1 with the reason and a hint when it failed; `templates build
// NAME[@VERSION]` shows it (--logs, --json); in a real terminal the phase is
// one live line with the elapsed time, and Ctrl-C stops following, not the
// build, and says so.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { buildImageArchive, writeTar } from "@boxyard/images";
import { waitFor } from "@boxyard/testkit";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type BoxTestApi, FAST_LIFECYCLE, startBoxTestApi } from "../../server/src/api/box-test-api.ts";
import { BOXYARD_BIN, ensureBuilt, runToExit } from "../../server/src/testing/server-process.ts";
import { ScriptedImages } from "../../server/src/testing/scripted-images.ts";

let api: BoxTestApi;
let home: string;
const images = new ScriptedImages();

function env(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: home,
    BOXYARD_URL: api.url,
    BOXYARD_TOKEN: api.adminToken,
    BOXYARD_ORG: "acme",
    TERM: "xterm",
  };
}

function cli(args: string[]) {
  return runToExit([BOXYARD_BIN, ...args], env());
}

async function spec(name: string, packages: string[]): Promise<string> {
  const file = join(home, `${name}.yaml`);
  await writeFile(file, `image:\n  base: debian-bookworm\n  packages: [${packages.join(", ")}]\n`);
  return file;
}

beforeAll(async () => {
  await ensureBuilt();
  api = await startBoxTestApi({ lifecycle: { agent: { ...FAST_LIFECYCLE.agent, images } } });
  home = await mkdtemp(join(tmpdir(), "boxyard-cli-tpl-"));
  await api.call("POST", "/api/v1/orgs", { body: { name: "acme" } });
}, 120_000);

afterAll(async () => {
  await api?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("boxyard templates builds", () => {
  it("push --follow prints the build log and its phases, and exits 0 once the image is ready", async () => {
    const r = await cli(["templates", "push", await spec("py", ["git", "python3"]), "--follow"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("version 1");
    expect(r.stdout).toContain("I: installing git python3");
    expect(r.stdout).toContain("I: success");
    // Off a terminal: one plain line per phase, then how it ended.
    expect(r.stderr).toMatch(/^py@1: (queued|building|ready) \(\d+\.\d+s\)$/m);
    expect(r.stderr).toMatch(/py@1: ready after \d+\.\d+s; layers sha256:[0-9a-f]{64}/);
    expect(r.stderr).not.toContain("\x1b[K");
  });

  it("push --follow of an image that cannot build exits 1 with the reason and where the log is", async () => {
    const r = await cli(["templates", "push", await spec("broken", ["no-such-package"]), "--follow"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("E: Unable to locate package no-such-package");
    expect(r.stderr).toContain("the build of broken@1 failed");
    expect(r.stderr).toContain("boxyard templates build broken@1 --logs");
    const create = await cli(["create", "b1", "--template", "broken"]);
    expect(create.code).toBe(1);
    expect(create.stderr).toContain("image build of this template version failed");
  });

  it("templates build shows a version's build, its log and JSON; a rebuild of the same image is a cache hit", async () => {
    const again = await cli([
      "templates",
      "push",
      await spec("py", ["python3", "git"]),
      "--follow",
      "--json",
    ]);
    expect(again.code, again.stderr).toBe(0);
    const pushed = JSON.parse(again.stdout);
    expect(pushed).toMatchObject({ name: "py", version: 2, buildStatus: "ready", build: { cacheHit: true } });
    const latest = await cli(["templates", "build", "py"]);
    expect(latest.code).toBe(0);
    expect(latest.stdout).toContain("py@2: ready (cache hit)");
    const logs = await cli(["templates", "build", "py@1", "--logs"]);
    expect(logs.stdout).toContain("I: installing git python3");
    expect(logs.stdout).toMatch(/py@1: ready\n/);
    const json = JSON.parse((await cli(["templates", "build", "py@1", "--json"])).stdout);
    expect(json).toMatchObject({ name: "py", version: 1, status: "ready", cacheHit: false });
    const failed = await cli(["templates", "build", "broken@1"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("error:    mmdebstrap exited with 1");
    const versions = await cli(["templates", "versions", "py"]);
    expect(versions.stdout.split("\n")[0]).toMatch(/BUILD/);
    expect(versions.stdout).toMatch(/2\s+debian-bookworm \+2 packages\s+ready/);
    const help = await cli(["templates", "build", "--help"]);
    expect(help.stdout).toContain("Example");
  });

  it("templates build --retry --follow builds a failed version again", async () => {
    const first = await cli(["templates", "push", await spec("flaky", ["flaky"]), "--follow"]);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain("Temporary failure resolving");
    const retried = await cli(["templates", "build", "flaky@1", "--retry", "--follow"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain("--- build queued again by admin ---");
    expect(retried.stderr).toMatch(/flaky@1: ready after/);
    const again = await cli(["templates", "build", "flaky@1", "--retry"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("only a failed build is retried");
  });

  it("on a terminal shows one live line with phase and elapsed time; Ctrl-C stops following, not the build", async () => {
    images.hold();
    // A failure here must not leave the scripted builder held for the cases after it.
    onTestFinished(() => images.release());
    const file = await spec("slow", ["slow"]);
    const p = pty.spawn(BOXYARD_BIN, ["templates", "push", file, "--follow"], {
      cols: 120,
      rows: 30,
      env: env(),
    });
    let out = "";
    p.onData((d) => {
      out += d;
    });
    const exited = new Promise<number>((r) => p.onExit(({ exitCode }) => r(exitCode)));
    await waitFor(
      () =>
        /⠋|⠙|⠹|⠸|⠼|⠴|⠦|⠧|⠇|⠏/.test(out) &&
        out.includes("slow@1: building") &&
        out.includes("I: installing slow"),
      {
        // The CLI's first output can take a while on a loaded 2-core machine.
        timeoutMs: 40_000,
        message: `a live line; got ${JSON.stringify(out)}`,
      },
    );
    expect(out).toContain("\r\x1b[K");
    expect(out).toContain("I: installing slow");
    p.write("\x03");
    expect(await exited).toBe(130);
    expect(out).toContain("Stopped following; the build of slow@1 carries on");
    // The build went on without anyone following it.
    const mid = await api.call("GET", "/api/v1/orgs/acme/templates/slow/versions/1/build");
    expect(mid.body.status).toBe("building");
    images.release();
    await waitFor(
      async () =>
        (await api.call("GET", "/api/v1/orgs/acme/templates/slow/versions/1/build")).body.status === "ready",
      { timeoutMs: 10_000, message: "the build to finish on its own" },
    );
  });

  it("images push uploads an archive and prints its digest; a bad one is refused naming the entry; ls lists them", async () => {
    const layer = writeTar([
      { path: "bin/", type: "dir" },
      { path: "bin/sh", content: "#!\n", mode: 0o755 },
    ]);
    const good = buildImageArchive({ format: "docker", layers: [layer] });
    const file = join(home, "good.tar");
    await writeFile(file, good.archive);
    const pushed = await cli(["images", "push", file]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout.split("\n")[0]).toBe(good.digest);
    expect(pushed.stdout).toContain(`oci: "${good.digest}"`);
    const evil = buildImageArchive({
      format: "oci",
      layers: [writeTar([{ path: "../../etc/passwd", content: "root::0:0::/:/bin/sh\n" }])],
    });
    const evilFile = join(home, "evil.tar");
    await writeFile(evilFile, evil.archive);
    const refused = await cli(["images", "push", evilFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('"../../etc/passwd": path climbs out with ..');
    const ls = JSON.parse((await cli(["images", "ls", "--json"])).stdout);
    expect(ls).toEqual([expect.objectContaining({ digest: good.digest, format: "docker", layers: 1 })]);
    expect((await cli(["images", "ls"])).stdout).toMatch(/^DIGEST\s+FORMAT\s+LAYERS/);
    const tpl = join(home, "imported.yaml");
    await writeFile(tpl, `image:\n  oci: "${good.digest}"\n`);
    const built = await cli(["templates", "push", tpl, "--follow"]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain("imported@1: ready");
    for (const cmd of [
      ["images", "push"],
      ["images", "ls"],
    ])
      expect((await cli([...cmd, "--help"])).stdout).toContain("Example");
  });

  it("templates push uploads an image.oci given as a path (contract.md's form) and pushes its digest", async () => {
    const other = buildImageArchive({
      format: "oci",
      layers: [
        writeTar([
          { path: "etc/", type: "dir" },
          { path: "etc/from-path", content: "yes\n" },
        ]),
      ],
    });
    await writeFile(join(home, "local.tar"), other.archive);
    const tpl = join(home, "bypath.yaml");
    await writeFile(tpl, "# an image next to the template\nimage:\n  oci: ./local.tar\n");
    const pushed = await cli(["templates", "push", tpl, "--follow"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain(`Uploaded as ${other.digest}.`);
    expect(pushed.stderr).toContain("bypath@1: ready");
    const versions = JSON.parse((await cli(["templates", "versions", "bypath", "--json"])).stdout);
    expect(versions[0].spec.image).toEqual({ oci: other.digest });
    // A path that is not there: the CLI says so and pushes nothing.
    await writeFile(tpl, "image:\n  oci: ./missing.tar\n");
    const missing = await cli(["templates", "push", tpl, "--name", "nothere"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing.tar");
    expect(
      JSON.parse((await cli(["templates", "ls", "--json"])).stdout).map((t: { name: string }) => t.name),
    ).not.toContain("nothere");
  });

  it("templates push reads image.devcontainer, uploads the archive it names, prints the warnings; boxes list its ports", async () => {
    const image = buildImageArchive({
      format: "docker",
      layers: [
        writeTar([
          { path: "etc/", type: "dir" },
          { path: "etc/devc", content: "yes\n" },
        ]),
      ],
    });
    await mkdir(join(home, "proj/.devcontainer"), { recursive: true });
    await writeFile(join(home, "proj/.devcontainer/image.tar"), image.archive);
    const json = `{
  // built elsewhere and saved with docker save
  "image": "./image.tar",
  "forwardPorts": [8080],
  "portsAttributes": { "8080": { "label": "web" } },
  "remoteUser": "vscode",
}
`;
    await writeFile(join(home, "proj/.devcontainer/devcontainer.json"), json);
    const tpl = join(home, "proj/devc.yaml");
    await writeFile(
      tpl,
      "image:\n  devcontainer: .devcontainer/devcontainer.json\nresources: { memoryMiB: 256 }\n",
    );
    const pushed = await cli(["templates", "push", tpl, "--follow"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("(devcontainer.json image)");
    expect(pushed.stderr).toContain(`Uploaded as ${image.digest}.`);
    expect(pushed.stderr).toContain("warning: devcontainer.json remoteUser: the box user is always dev");
    expect(pushed.stderr).toContain("devc@1: ready");
    const versions = JSON.parse((await cli(["templates", "versions", "devc", "--json"])).stdout);
    expect(versions[0].spec).toEqual({
      image: { oci: image.digest },
      resources: { memoryMiB: 256 },
      ports: [{ port: 8080, name: "web" }],
    });
    // The file as written, with the uploaded digest where its path was (comments kept).
    expect(versions[0].source.devcontainer).toMatchObject({ file: ".devcontainer/devcontainer.json" });
    expect(versions[0].source.devcontainer.text).toBe(json.replace('"./image.tar"', `"${image.digest}"`));
    expect((await cli(["templates", "versions", "devc"])).stdout).toContain("(devcontainer.json)");
    // --json has the warnings in its output, and nothing on stderr about them.
    const again = await cli(["templates", "push", tpl, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).warnings).toEqual([
      { key: "remoteUser", message: expect.stringContaining("the box user is always dev") },
    ]);
    expect(again.stderr).not.toContain("warning:");
    // A box of it lists the declared port without anyone sharing it.
    expect((await cli(["create", "devbox", "--template", "devc", "--wait"])).code).toBe(0);
    const ports = await cli(["ports", "ls", "devbox"]);
    expect(ports.stdout).toMatch(/^PORT\s+NAME\s+VISIBILITY\s+PREVIEW/);
    expect(ports.stdout).toMatch(/8080\s+web\s+private\s+http:\/\/\S+\/preview\/acme\/devbox\/8080\//);
    // A devcontainer.json that is not there, or that Boxyard cannot use: said, nothing pushed.
    await writeFile(tpl, "image:\n  devcontainer: .devcontainer/missing.json\n");
    const missing = await cli(["templates", "push", tpl, "--name", "nodevc"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing.json (image.devcontainer");
    await writeFile(join(home, "proj/.devcontainer/devcontainer.json"), '{ "image": "node:20" }');
    await writeFile(tpl, "image:\n  devcontainer: .devcontainer/devcontainer.json\n");
    const registry = await cli(["templates", "push", tpl, "--name", "nodevc"]);
    expect(registry.code).toBe(1);
    expect(registry.stderr).toContain("spec.image.devcontainer: devcontainer.json image:");
    expect(registry.stderr).toContain("docker save node:20");
    expect(
      JSON.parse((await cli(["templates", "ls", "--json"])).stdout).map((t: { name: string }) => t.name),
    ).not.toContain("nodevc");
  });
});
