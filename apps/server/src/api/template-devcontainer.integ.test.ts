// devcontainer.json templates and declared ports through the API (issue 7):
// `image: {devcontainer: TEXT}` is converted on push, the version stores the
// converted spec and where it came from, the response lists the warnings; a
// bad devcontainer.json is 400 validation_failed naming its key and stores
// nothing (test catalogue C4). A template's `ports` appear in each box's port
// list, private and named, without anyone sharing them; sharing still works
// (and a declared port made private again stays listed); bad ports are
// refused with their path (C4, C5 for the name format).
import { buildImageArchive, writeTar } from "@boxyard/images";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let viewer: string;
const org = "/api/v1/orgs/acme";

const DEVCONTAINER = `// the project's dev container
{
  "name": "web project",
  "image": "mcr.microsoft.com/devcontainers/base:bookworm",
  "features": {
    "ghcr.io/devcontainers/features/python:1": { "version": "3.11" },
    "ghcr.io/devcontainers/features/docker-in-docker:2": {},
  },
  "postCreateCommand": ["pip", "install", "-r", "requirements dev.txt"],
  "postStartCommand": "make serve",
  "forwardPorts": [8080, "db:5432"],
  "portsAttributes": { "8080": { "label": "web" } },
  "containerEnv": { "APP_ENV": "dev", "TOKEN": "\${localEnv:TOKEN}" },
  "remoteUser": "vscode",
}
`;

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olive");
  viewer = await api.createUser("vic");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("PUT", `${org}/members/vic`, { token: owner, body: { role: "viewer" } });
});
afterAll(async () => api?.close());

async function settled(name: string, state: string) {
  for (let i = 0; i < 200; i++) {
    const b = await api.call("GET", `${org}/boxes/${name}`, { token: owner });
    if (b.body.actualState === state) return b.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} never reached ${state}`);
}

describe("a devcontainer.json template", () => {
  it("is converted on push: the version keeps the converted spec and its source, the response the warnings", async () => {
    const res = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: {
        name: "web",
        spec: {
          image: { devcontainer: DEVCONTAINER, file: ".devcontainer/devcontainer.json" },
          resources: { memoryMiB: 512 },
          env: { APP_ENV: "template-wins" },
        },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const spec = {
      image: { base: "debian-bookworm", packages: ["python3", "python3-pip", "python3-venv"] },
      resources: { memoryMiB: 512 },
      init: ["pip install -r 'requirements dev.txt'"],
      onStart: ["make serve"],
      env: { APP_ENV: "template-wins" },
      ports: [{ port: 8080, name: "web" }],
    };
    expect(res.body).toMatchObject({ name: "web", version: 1, buildStatus: "queued", spec });
    expect(res.body.warnings.map((w: { key: string }) => w.key)).toEqual([
      "image",
      "features.ghcr.io/devcontainers/features/docker-in-docker:2",
      "forwardPorts.1",
      "containerEnv.TOKEN",
      "remoteUser",
      "name",
    ]);
    expect(res.body.source).toMatchObject({
      devcontainer: {
        file: ".devcontainer/devcontainer.json",
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      warnings: res.body.warnings,
    });
    expect(res.body.source.devcontainer.text).toBe(DEVCONTAINER);
    // What was stored is the converted spec; the versions list shows where it came from.
    const { rows } = await api.server.pool.query(
      "SELECT v.spec, v.source FROM template_versions v JOIN templates t ON t.id = v.template_id WHERE t.name = 'web'",
    );
    expect(rows[0].spec).toEqual(spec);
    expect(rows[0].source.devcontainer.text).toBe(DEVCONTAINER);
    const versions = await api.call("GET", `${org}/templates/web/versions`, { token: viewer });
    expect(versions.body.items[0]).toMatchObject({ spec, source: { warnings: res.body.warnings } });
    // The node builds the converted image.
    const build = await api.call("GET", `${org}/templates/web/versions/1/build`, { token: owner });
    expect(build.body).toMatchObject({ status: expect.any(String) });
    const plain = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "plain", spec: "image: { base: busybox }\n" },
    });
    expect(plain.body).toMatchObject({ warnings: [], source: null });
  });

  it("takes an uploaded archive's digest as its image, and YAML text with the devcontainer.json inside", async () => {
    const image = buildImageArchive({
      format: "docker",
      layers: [writeTar([{ path: "etc/", type: "dir" }])],
    });
    const up = await fetch(`${api.url}${org}/images`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner}`, "content-type": "application/x-tar" },
      body: new Uint8Array(image.archive),
    });
    expect(up.status).toBe(201);
    const yaml = `image:\n  devcontainer: |\n    { "image": "${image.digest}", "forwardPorts": [3000] }\n`;
    const res = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "imp", spec: yaml },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.spec).toEqual({ image: { oci: image.digest }, ports: [{ port: 3000 }] });
    expect(res.body.source.devcontainer.file).toBeNull();
    // A digest nobody uploaded is refused like image.oci's.
    const missing = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "imp", spec: { image: { devcontainer: `{"image": "sha256:${"0".repeat(64)}"}` } } },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.detail).toContain("spec.image.oci: no image");
  });

  it("refuses a bad devcontainer.json with 400 validation_failed naming the key, and stores nothing", async () => {
    const cases: Array<[string, string, string]> = [
      ['{"image": "node:20"}', "spec.image.devcontainer.image", "registry image"],
      ['{"image": "./image.tar"}', "spec.image.devcontainer.image", "boxyard templates push"],
      ['{"build": {"dockerfile": "Dockerfile"}}', "spec.image.devcontainer.build", "Docker engine"],
      [
        '{"image": "debian:bookworm", "forwardPorts": [99999]}',
        "spec.image.devcontainer.forwardPorts.0",
        "1 to 65535",
      ],
      [
        '{"image": "debian:bookworm", "containerEnv": {"A-B": "x"}}',
        "spec.image.devcontainer.containerEnv.A-B",
        "environment variable name",
      ],
      [
        '{"image": "debian:bookworm",\n "x": }',
        "spec.image.devcontainer",
        'not valid JSON (line 2, column 7: unexpected "}"',
      ],
      [
        ".devcontainer/devcontainer.json",
        "spec.image.devcontainer",
        "must be the text of a devcontainer.json",
      ],
    ];
    for (const [text, path, says] of cases) {
      const res = await api.call("POST", `${org}/templates`, {
        token: owner,
        body: { name: "bad", spec: { image: { devcontainer: text } } },
      });
      expect(res.status, text).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors[0].path, text).toBe(path);
      expect(res.body.detail, text).toContain(says);
    }
    // The converted spec is validated as any spec: the template's own ports must not clash in name.
    const clash = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: {
        name: "bad",
        spec: {
          image: {
            devcontainer:
              '{"image": "debian:bookworm", "forwardPorts": [80], "portsAttributes": {"80": {"label": "web"}}}',
          },
          ports: [{ port: 81, name: "web" }],
        },
      },
    });
    expect(clash.status).toBe(400);
    expect(clash.body.detail).toBe("spec.ports: must not repeat a name");
    expect((await api.call("GET", `${org}/templates/bad/versions`, { token: owner })).status).toBe(404);
  });
});

describe("a template's declared ports", () => {
  it("are refused when bad, with the path", async () => {
    for (const [ports, where] of [
      [[{ port: 0, name: "web" }], "spec.ports.0.port: must be 1-65535"],
      [[{ port: 80 }, { port: 80 }], "spec.ports: must not repeat a port"],
      [[{ port: 80, name: "Web App" }], "spec.ports.0.name"],
      ["8080", "spec.ports"],
    ] as const) {
      const res = await api.call("POST", `${org}/templates`, {
        token: owner,
        body: { name: "badports", spec: { image: { base: "busybox" }, ports } },
      });
      expect(res.status).toBe(400);
      expect(res.body.detail, JSON.stringify(ports)).toContain(where);
    }
  });

  it("are listed for each box, private and named, without anyone sharing them; sharing still works", async () => {
    await api.call("POST", `${org}/templates`, {
      token: owner,
      body: {
        name: "svc",
        spec: { image: { base: "busybox" }, ports: [{ port: 8080, name: "web" }, { port: 9000 }] },
      },
    });
    expect(
      (await api.call("POST", `${org}/boxes`, { token: owner, body: { name: "s1", template: "svc" } }))
        .status,
    ).toBe(202);
    await settled("s1", "running");
    const list = async () => (await api.call("GET", `${org}/boxes/s1/ports`, { token: viewer })).body.items;
    expect(await list()).toEqual([
      {
        port: 8080,
        visibility: "private",
        label: "web",
        declared: true,
        previewPath: "/preview/acme/s1/8080/",
      },
      { port: 9000, visibility: "private", label: "", declared: true, previewPath: "/preview/acme/s1/9000/" },
    ]);
    // Shared with the org: still named; an undeclared port shared beside it.
    const shared = await api.call("PUT", `${org}/boxes/s1/ports/8080`, {
      token: owner,
      body: { visibility: "org" },
    });
    expect(shared.body).toEqual({
      port: 8080,
      visibility: "org",
      label: "web",
      declared: true,
      previewPath: "/preview/acme/s1/8080/",
    });
    await api.call("PUT", `${org}/boxes/s1/ports/3000`, {
      token: owner,
      body: { visibility: "public", label: "demo" },
    });
    expect(
      (await list()).map((p: { port: number; visibility: string; label: string; declared: boolean }) => [
        p.port,
        p.visibility,
        p.label,
        p.declared,
      ]),
    ).toEqual([
      [3000, "public", "demo", false],
      [8080, "org", "web", true],
      [9000, "private", "", true],
    ]);
    // Private again: the declared port stays listed, the undeclared one goes.
    await api.call("PUT", `${org}/boxes/s1/ports/8080`, { token: owner, body: { visibility: "private" } });
    await api.call("PUT", `${org}/boxes/s1/ports/3000`, { token: owner, body: { visibility: "private" } });
    expect((await list()).map((p: { port: number; visibility: string }) => [p.port, p.visibility])).toEqual([
      [8080, "private"],
      [9000, "private"],
    ]);
    // A box of a built-in template declares none.
    await api.call("POST", `${org}/boxes`, { token: owner, body: { name: "plain", template: "busybox" } });
    expect((await api.call("GET", `${org}/boxes/plain/ports`, { token: owner })).body.items).toEqual([]);
  });

  it("come from the box's own template version, not a later one", async () => {
    await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "svc", spec: { image: { base: "busybox" }, ports: [{ port: 5000, name: "api" }] } },
    });
    const ports = (await api.call("GET", `${org}/boxes/s1/ports`, { token: owner })).body.items;
    expect(ports.map((p: { port: number }) => p.port)).toEqual([8080, 9000]);
    await api.call("POST", `${org}/boxes`, { token: owner, body: { name: "s2", template: "svc" } });
    const next = (await api.call("GET", `${org}/boxes/s2/ports`, { token: owner })).body.items;
    expect(next).toEqual([
      {
        port: 5000,
        visibility: "private",
        label: "api",
        declared: true,
        previewPath: "/preview/acme/s2/5000/",
      },
    ]);
  });
});
