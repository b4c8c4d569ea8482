// Templates: specs as YAML or JSON, validated with the path of the bad field;
// every POST of a name adds an immutable version; boxes record the version
// they were made from and keep what it said even after newer versions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let member: string;
const org = "/api/v1/orgs/acme";

beforeAll(async () => {
  api = await startBoxTestApi();
  owner = await api.createUser("olive");
  member = await api.createUser("mel");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
  await api.call("PUT", `${org}/members/mel`, { token: owner, body: { role: "member" } });
});
afterAll(async () => api?.close());

describe("templates", () => {
  it("accept a YAML spec and keep each POST of a name as a new version", async () => {
    const yaml = [
      "image:",
      "  base: debian-bookworm",
      "  packages: [git, python3]",
      "resources: { cpu: 1, memoryMiB: 768 }",
      "network: { egress: allow-all }",
      "wakeOnConnect: stopped",
    ].join("\n");
    const v1 = await api.call("POST", `${org}/templates`, { token: owner, body: { name: "py", spec: yaml } });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({
      name: "py",
      version: 1,
      createdBy: "olive",
      spec: { image: { base: "debian-bookworm", packages: ["git", "python3"] }, resources: { cpu: 1 } },
    });
    const v2 = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "py", spec: { image: { base: "debian-bookworm", packages: ["git"] } } },
    });
    expect(v2.body.version).toBe(2);
    const versions = await api.call("GET", `${org}/templates/py/versions`, { token: member });
    expect(versions.body.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const list = await api.call("GET", `${org}/templates`, { token: member });
    expect(
      list.body.items.map((t: { name: string; version: number; builtIn: boolean }) => [
        t.name,
        t.version,
        t.builtIn,
      ]),
    ).toEqual([
      ["busybox", 1, true],
      ["debian", 1, true],
      ["py", 2, false],
    ]);
  });

  it("refuse a bad spec with the path of the bad field, and store nothing", async () => {
    const cases: Array<[unknown, string]> = [
      ["image: [", "spec: not valid YAML or JSON"],
      [{ image: { base: "ubuntu" } }, "spec.image"],
      [{ image: { base: "debian-bookworm", packages: ["ok", "Bad Name"] } }, "spec.image.packages.1"],
      [{ image: { base: "busybox" }, resources: { memoryMiB: 1 } }, "spec.resources.memoryMiB"],
      [{ image: { base: "busybox" }, init: ["make", ""] }, "spec.init.1: must not be empty"],
      [
        { image: { base: "busybox" }, repo: { url: "ssh://git@example.invalid/x.git" } },
        "spec.repo.url: must be an http:// or https:// URL",
      ],
      [
        {
          image: { base: "busybox" },
          repo: { url: "https://example.invalid/x.git", ref: "--upload-pack=x" },
        },
        "spec.repo.ref: must be a branch, tag or commit id",
      ],
      [{ image: { base: "busybox" }, secrets: ["not a name"] }, "spec.secrets.0"],
      [
        { image: { base: "busybox" }, env: { TOKEN: "x" }, secrets: ["TOKEN"] },
        "spec.env.TOKEN: TOKEN is also a secret",
      ],
      [
        { image: { base: "busybox" }, env: { "NOT-A-NAME": "x" } },
        "spec.env.NOT-A-NAME: must be an environment variable name",
      ],
      [
        { image: { base: "busybox" }, env: { BOXYARD_X: "1" } },
        "spec.env.BOXYARD_X: names starting BOXYARD_ are reserved",
      ],
      [{ image: { base: "busybox" }, onStart: ["true", ""] }, "spec.onStart.1: must not be empty"],
      [{ image: { oci: "img.tar" } }, "spec.image"],
      [{ image: { base: "busybox" }, colour: "blue" }, "spec"],
      [{ resources: { cpu: 1 } }, "spec.image"],
    ];
    for (const [spec, where] of cases) {
      const res = await api.call("POST", `${org}/templates`, { token: owner, body: { name: "bad", spec } });
      expect(res.status, JSON.stringify(spec)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.detail, JSON.stringify(spec)).toContain(where);
    }
    expect((await api.call("GET", `${org}/templates/bad/versions`, { token: owner })).status).toBe(404);
  });

  it("are written by org owners and admins only", async () => {
    const res = await api.call("POST", `${org}/templates`, {
      token: member,
      body: { name: "mine", spec: { image: { base: "busybox" } } },
    });
    expect(res.status).toBe(403);
  });

  it("make boxes that record their version and keep it when the template moves on", async () => {
    const created = await api.call("POST", `${org}/boxes`, {
      token: member,
      body: { name: "snake", template: "py", templateVersion: 1 },
    });
    expect(created.status).toBe(202);
    expect(created.body.box).toMatchObject({
      template: "py",
      templateVersion: 1,
      resources: { cpu: 1, memoryMiB: 768, diskGiB: 5 },
    });
    const latest = await api.call("POST", `${org}/boxes`, {
      token: member,
      body: { name: "snake2", template: "py" },
    });
    expect(latest.body.box).toMatchObject({ templateVersion: 2, resources: { cpu: 2, memoryMiB: 1024 } });
    const { rows } = await api.server.pool.query(
      "SELECT name, image, network FROM boxes WHERE name IN ('snake', 'snake2') ORDER BY name",
    );
    expect(rows).toEqual([
      {
        name: "snake",
        image: { base: "debian-bookworm", packages: ["git", "python3"] },
        network: { egress: "allow-all" },
      },
      {
        name: "snake2",
        image: { base: "debian-bookworm", packages: ["git"] },
        network: { egress: "deny-all" },
      },
    ]);
    const missing = await api.call("POST", `${org}/boxes`, {
      token: member,
      body: { name: "nope", template: "py", templateVersion: 9 },
    });
    expect(missing.body.code).toBe("template_not_found");
    // Another org does not see acme's templates.
    const other = await api.createUser("otto");
    await api.call("POST", "/api/v1/orgs", { token: other, body: { name: "elsewhere" } });
    const foreign = await api.call("POST", "/api/v1/orgs/elsewhere/boxes", {
      token: other,
      body: { name: "x", template: "py" },
    });
    expect(foreign.body.code).toBe("template_not_found");
  });
});
