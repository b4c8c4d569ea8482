// A devcontainer.json template end to end (issue 7), on real gVisor. The
// project's .devcontainer/devcontainer.json (JSONC, with comments) names an
// image archive next to it that the test builds (a busybox root filesystem,
// as `docker save` writes one), forwards a port with a label, and asks for
// things Boxyard does not do. `boxyard templates push` of a template whose
// image is that devcontainer.json uploads the archive, prints a warning for
// each thing not honoured, and the node builds the image; a box from it runs
// commands, and its port list shows the declared port (private, named, with
// its preview) without anyone sharing it. Its preview works for the owner,
// is refused to others until shared, and the port stays listed once made
// private again. Ends with a leak census.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildBusyboxLayer, buildImageArchive, LayerStore } from "@boxyard/images";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNodeClean, startTestServer, type TestServer } from "./kit.ts";

const run = promisify(execFile);
const NODE = { prefix: "bydc", subnet: "10.225.0.0/24" };

let t: TestServer;
const ok = (args: string[]) => t.ok(args);

/** A busybox root filesystem as one layer tar, with a file that says where it came from. */
async function busyboxLayerTar(): Promise<Buffer> {
  const store = new LayerStore({ root: join(t.dataDir, "build-busybox") });
  const root = store.pathOf(await buildBusyboxLayer(store));
  await writeFile(join(root, "etc/motd"), "from the devcontainer image\n");
  const { stdout } = await run("tar", ["--numeric-owner", "-C", root, "-cf", "-", "."], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

const DEVCONTAINER = `// The project's dev container, as an editor would open it.
{
  "name": "web project",
  "image": "./image.tar", // saved with: docker save web-dev -o image.tar
  "features": { "ghcr.io/devcontainers/features/git:1": {} },
  "forwardPorts": [8080, "db:5432"],
  "portsAttributes": { "8080": { "label": "Web" } },
  "remoteUser": "vscode",
}
`;

beforeAll(async () => {
  t = await startTestServer({ name: "e2e-devc", node: NODE, cliEnv: { BOXYARD_ORG: "acme" } });
}, 180_000);

afterAll(async () => {
  await t?.release();
}, 120_000);

describe("a template made from a devcontainer.json", () => {
  it("pushes with the archive uploaded and a warning for each thing not honoured, and builds on the node", async () => {
    const dir = join(t.home, "project/.devcontainer");
    await mkdir(dir, { recursive: true });
    const image = buildImageArchive({ format: "docker", layers: [await busyboxLayerTar()] });
    await writeFile(join(dir, "image.tar"), image.archive);
    await writeFile(join(dir, "devcontainer.json"), DEVCONTAINER);
    const tpl = join(t.home, "project/web.yaml");
    await writeFile(
      tpl,
      "image:\n  devcontainer: .devcontainer/devcontainer.json\nresources: { memoryMiB: 256 }\n",
    );
    const pushed = await ok(["templates", "push", tpl, "--follow"]);
    expect(pushed.stderr).toContain(`Uploaded as ${image.digest}.`);
    const warnings = pushed.stderr.split("\n").filter((l) => l.startsWith("warning: devcontainer.json "));
    expect(warnings.map((l) => l.split(":")[1]!.replace(" devcontainer.json ", ""))).toEqual([
      "features.ghcr.io/devcontainers/features/git",
      "forwardPorts.1",
      "remoteUser",
      "name",
    ]);
    expect(pushed.stderr).toContain(
      "not installed: packages are added only to Boxyard's debian-bookworm base",
    );
    expect(pushed.stderr).toContain("db:5432 is a port of another host");
    expect(pushed.stderr).toMatch(/web@1: ready after [\d.]+s; layers sha256:[0-9a-f]{64}/);
    const [version] = JSON.parse((await ok(["templates", "versions", "web", "--json"])).stdout);
    expect(version.spec).toEqual({
      image: { oci: image.digest },
      resources: { memoryMiB: 256 },
      ports: [{ port: 8080, name: "web" }],
    });
    expect(version.source.warnings).toHaveLength(4);
  }, 300_000);

  it("gives a box that runs in gVisor and lists the declared port, private and named, without any share", async () => {
    await ok(["create", "web", "--template", "web", "--wait"]);
    const r = await ok(["exec", "web", "--", "sh", "-c", "cat /etc/motd; id -u"]);
    expect(r.stdout).toBe("from the devcontainer image\n1000\n");
    expect(JSON.parse((await ok(["ports", "ls", "web", "--json"])).stdout)).toEqual([
      {
        port: 8080,
        visibility: "private",
        label: "web",
        declared: true,
        previewPath: "/preview/acme/web/8080/",
      },
    ]);
    expect((await ok(["ports", "ls", "web"])).stdout).toMatch(
      /8080\s+web\s+private\s+http:\/\/\S+\/preview\/acme\/web\/8080\//,
    );
  }, 180_000);

  it("previews the declared port for the owner; sharing it with `ports share` still works", async () => {
    await ok([
      "exec",
      "web",
      "--",
      "sh",
      "-c",
      "mkdir -p /home/dev/www && echo hello-devcontainer > /home/dev/www/index.html && httpd -p 127.0.0.1:8080 -h /home/dev/www",
    ]);
    const url = `${t.server.url}/preview/acme/web/8080/index.html`;
    const owner = await fetch(url, { headers: { authorization: `Bearer ${t.token}` } });
    expect(owner.status).toBe(200);
    expect(await owner.text()).toBe("hello-devcontainer\n");
    expect((await fetch(url)).status).toBe(401);
    await ok(["ports", "share", "web", "8080", "--public"]);
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.text()).toBe("hello-devcontainer\n");
    expect(JSON.parse((await ok(["ports", "ls", "web", "--json"])).stdout)).toEqual([
      expect.objectContaining({ port: 8080, visibility: "public", label: "web", declared: true }),
    ]);
    await ok(["ports", "share", "web", "8080", "--private"]);
    expect((await fetch(url)).status).toBe(401);
    expect(JSON.parse((await ok(["ports", "ls", "web", "--json"])).stdout)).toEqual([
      expect.objectContaining({ port: 8080, visibility: "private", label: "web", declared: true }),
    ]);
  }, 120_000);

  it("deletes the box and leaves nothing behind on the node", async () => {
    await ok(["rm", "web", "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
  });

  it("stops cleanly on SIGTERM", async () => {
    t.server.child.kill("SIGTERM");
    expect(await t.server.exited).toBe(0);
  });
});
