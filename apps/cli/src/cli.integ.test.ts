// The built `boxyard` CLI as a person runs it, against a real server.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOXYARD_BIN, ensureBuilt, runToExit } from "../../server/src/testing/server-process.ts";
import { startTestApi, type TestApi } from "../../server/src/testing/test-api.ts";

let api: TestApi;
let home: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runToExit([BOXYARD_BIN, ...args], { PATH: process.env.PATH, HOME: home, ...env });
}

beforeAll(async () => {
  await ensureBuilt();
  api = await startTestApi();
  home = await mkdtemp(join(tmpdir(), "boxyard-cli-"));
}, 120_000);
afterAll(async () => {
  await api?.close();
  await rm(home, { recursive: true, force: true });
});

describe("boxyard CLI", () => {
  it("refuses to work before login and says how", async () => {
    const r = await cli(["whoami"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not logged in");
    expect(r.stderr).toContain("boxyard login");
  });

  it("logs in, saving the token 0600, and knows who you are", async () => {
    const r = await cli(["login", api.url, "--token", api.adminToken]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("as admin");
    const st = await stat(join(home, ".config", "boxyard", "config.json"));
    expect(st.mode & 0o777).toBe(0o600);
    const me = await cli(["whoami", "--json"]);
    expect(JSON.parse(me.stdout)).toMatchObject({ username: "admin", siteAdmin: true });
  });

  it("creates and lists orgs, as a table and as JSON", async () => {
    expect((await cli(["orgs", "create", "acme"])).code).toBe(0);
    const table = await cli(["orgs", "ls"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+ROLE$/);
    expect(table.stdout).toMatch(/acme\s+owner/);
    const json = JSON.parse((await cli(["orgs", "ls", "--json"])).stdout);
    expect(json).toEqual([expect.objectContaining({ name: "acme", role: "owner" })]);
  });

  it("prints the problem title and a hint on API errors, and exits non-zero", async () => {
    const dup = await cli(["orgs", "create", "acme"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("already exists");
    const bad = await cli(["whoami"], { BOXYARD_TOKEN: "byt_nope" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Authentication required");
    expect(bad.stderr).toContain("hint: ");
    // A usage mistake is caught before anything is sent.
    const wait = await cli(["exec", "web", "--wait", "soon", "--", "true"]);
    expect(wait.code).toBe(1);
    expect(wait.stderr).toContain('--wait takes a number of seconds from 0 to 600, not "soon"');
  });

  it("shows the audit log, verifies it, and shows quota and nodes", async () => {
    const audit = await cli(["audit", "--org", "acme"]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/admin\s+org\.create\s+acme\s+success/);
    const jsonl = (await cli(["audit", "--org", "acme", "--jsonl"])).stdout.trim().split("\n");
    expect(JSON.parse(jsonl[0]!)).toMatchObject({ action: "org.create", result: "success" });
    const verify = await cli(["audit", "verify", "--org", "acme"]);
    expect(verify).toMatchObject({ code: 0 });
    expect(verify.stdout).toContain("intact");
    const quota = await cli(["quota", "--org", "acme"]);
    expect(quota.stdout).toMatch(/boxes\s+0\s+none/);
    const nodes = JSON.parse((await cli(["nodes", "--json"])).stdout);
    expect(nodes[0]).toMatchObject({ runtime: "fake", healthy: true });
  });

  it("lists, sets and removes members (and refuses a role that does not exist)", async () => {
    expect((await cli(["users", "create", "dora"])).code).toBe(0);
    const set = await cli(["members", "set", "dora", "viewer", "--org", "acme"]);
    expect([set.code, set.stdout]).toEqual([0, "dora is now viewer in acme.\n"]);
    const bad = await cli(["members", "set", "dora", "boss", "--org", "acme"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("use one of owner, admin, member, viewer, auditor");
    expect((await cli(["members", "ls", "--org", "acme"])).stdout).toMatch(/dora\s+viewer/);
    const rm = await cli(["members", "rm", "dora", "--org", "acme"]);
    expect([rm.code, rm.stdout]).toEqual([0, "dora is no longer a member of acme.\n"]);
    const json = JSON.parse((await cli(["members", "ls", "--org", "acme", "--json"])).stdout);
    expect(json.map((m: { username: string }) => m.username)).toEqual(["admin"]);
    const again = await cli(["members", "rm", "dora", "--org", "acme"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("not a member");
  });

  it("creates, suspends, unsuspends and deletes a user (site admin)", async () => {
    const created = JSON.parse((await cli(["users", "create", "carol", "--json"])).stdout);
    expect(created).toMatchObject({ username: "carol", suspendedAt: null });
    const suspended = await cli(["users", "suspend", "carol"]);
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toContain("Suspended carol");
    expect(JSON.parse((await cli(["users", "unsuspend", "carol", "--json"])).stdout).suspendedAt).toBeNull();
    expect((await cli(["users", "rm", "carol"])).stdout).toBe("Deleted user carol.\n");
    const again = await cli(["users", "rm", "carol"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("No such user");
  });

  it("creates teams, adds members and lists them", async () => {
    expect((await cli(["teams", "create", "web", "--org", "acme"])).stdout).toBe(
      "Created team web in acme.\n",
    );
    expect((await cli(["teams", "add", "web", "admin", "--org", "acme"])).stdout).toBe(
      "Added admin to team web.\n",
    );
    const teams = JSON.parse((await cli(["teams", "ls", "--org", "acme", "--json"])).stdout);
    expect(teams).toEqual([expect.objectContaining({ name: "web", members: 1, boxes: 0 })]);
    const missing = await cli(["teams", "add", "web", "nobody", "--org", "acme"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("add them to it first");
  });

  it("pushes a template from a YAML file, lists it and its versions, and shows where a spec is wrong", async () => {
    const file = join(home, "python.yaml");
    await writeFile(
      file,
      "image:\n  base: debian-bookworm\n  packages: [python3]\nresources: { memoryMiB: 512 }\n",
    );
    const pushed = await cli(["templates", "push", file, "--org", "acme"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain("Template python is now at version 1 in acme; its image is being built");
    expect((await cli(["templates", "push", file, "--org", "acme"])).stdout).toContain("version 2");
    const table = (await cli(["templates", "ls", "--org", "acme"])).stdout;
    expect(table).toMatch(/python\s+2\s+debian-bookworm \+1 packages\s+-\s+512 MiB/);
    expect(table).toMatch(/busybox\s+built-in/);
    const versions = JSON.parse(
      (await cli(["templates", "versions", "python", "--org", "acme", "--json"])).stdout,
    );
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    await writeFile(file, "image:\n  base: debian-bookworm\n  packages: [Python 3]\n");
    const bad = await cli(["templates", "push", file, "--org", "acme"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("spec.image.packages.0");
  });

  it("shows usage and cost, as a table and as JSON", async () => {
    const table = await cli(["usage", "--org", "acme"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^Usage of acme from /);
    expect(table.stdout).toMatch(/TOTAL\s+-\s+0\.00\s+0\.00\s+0\.00\s+\$0\.00/);
    const json = JSON.parse((await cli(["usage", "--org", "acme", "--json"])).stdout);
    expect(json).toMatchObject({ currency: "USD", boxes: [], total: { cost: 0 } });
    const bad = await cli(["usage", "--org", "acme", "--from", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("from");
  });

  it("says when the server cannot be reached", async () => {
    const r = await cli(["whoami"], { BOXYARD_URL: "http://127.0.0.1:1", BOXYARD_TOKEN: "x" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach");
  });

  it("has help with an example on every command", async () => {
    for (const cmd of [
      ["login"],
      ["orgs", "create"],
      ["server"],
      ["migrate"],
      ["create"],
      ["ls"],
      ["show"],
      ["events"],
      ["start"],
      ["stop"],
      ["pause"],
      ["resume"],
      ["rm"],
      ["exec"],
      ["ssh"],
      ["config-ssh"],
      ["port-forward"],
      ["audit"],
      ["quota"],
      ["nodes"],
      ["users", "create"],
      ["users", "suspend"],
      ["users", "unsuspend"],
      ["users", "rm"],
      ["ports", "ls"],
      ["ports", "share"],
      ["members", "ls"],
      ["members", "set"],
      ["members", "rm"],
      ["teams", "ls"],
      ["teams", "create"],
      ["teams", "add"],
      ["templates", "ls"],
      ["templates", "push"],
      ["templates", "versions"],
      ["templates", "build"],
      ["templates", "pool"],
      ["images", "push"],
      ["images", "ls"],
      ["secrets", "set"],
      ["secrets", "ls"],
      ["secrets", "rm"],
      ["usage"],
    ]) {
      const r = await cli([...cmd, "--help"]);
      expect(r.code, cmd.join(" ")).toBe(0);
      expect(r.stdout, cmd.join(" ")).toContain("Example");
    }
    // About 40 process starts: slow on a loaded 2-core machine.
  }, 180_000);
});
