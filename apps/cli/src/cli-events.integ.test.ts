// `boxyard show NAME` ends with the box's last few events and `boxyard
// events NAME` lists its history (state changes with reasons, who did what),
// as a table and as JSON, against a real server.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "../../server/src/api/box-test-api.ts";
import { BOXYARD_BIN, ensureBuilt, runToExit } from "../../server/src/testing/server-process.ts";

let api: BoxTestApi;
let home: string;

function cli(args: string[]) {
  return runToExit([BOXYARD_BIN, ...args], {
    PATH: process.env.PATH ?? "",
    HOME: home,
    BOXYARD_URL: api.url,
    BOXYARD_TOKEN: api.adminToken,
  });
}

beforeAll(async () => {
  await ensureBuilt();
  api = await startBoxTestApi();
  home = await mkdtemp(join(tmpdir(), "boxyard-cli-events-"));
  await api.call("POST", "/api/v1/orgs", { body: { name: "acme" } });
  await api.call("POST", "/api/v1/orgs/acme/boxes", { body: { name: "web", template: "busybox" } });
  await waitFor(async () => {
    const b = (await api.call("GET", "/api/v1/orgs/acme/boxes/web")).body;
    return b.actualState === "running" ? b : null;
  });
  await api.call("POST", "/api/v1/orgs/acme/boxes/web/stop");
  await waitFor(async () => {
    const b = (await api.call("GET", "/api/v1/orgs/acme/boxes/web")).body;
    return b.actualState === "stopped" ? b : null;
  });
}, 120_000);

afterAll(async () => {
  await api?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("box history in the CLI", () => {
  it("show ends with the last few events, newest first", async () => {
    const r = await cli(["show", "web", "--org", "acme"]);
    expect(r.code, r.stderr).toBe(0);
    const [, tail] = r.stdout.split("Recent events (newest first; 'boxyard events web' for more):\n");
    const lines = tail!.trimEnd().split("\n");
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines[0]).toMatch(/^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}platform: stopping -> stopped/);
    expect(tail).toContain("admin: asked it to stop");
  });

  it("events lists the whole history as a table and as JSON", async () => {
    const table = await cli(["events", "web", "--org", "acme"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^TIME \(UTC\)\s+WHO\s+WHAT$/);
    expect(table.stdout).toMatch(/admin\s+created the box from busybox v\d+/);
    expect(table.stdout).toMatch(/platform\s+\S+ -> running/);

    const json = JSON.parse((await cli(["events", "web", "--org", "acme", "--json"])).stdout);
    expect(json[0]).toMatchObject({ kind: "state", to: "stopped" });
    expect(json.find((e: { action?: string }) => e.action === "box.create")).toMatchObject({
      kind: "action",
      actor: { name: "admin" },
      result: "success",
    });
    const two = JSON.parse((await cli(["events", "web", "--org", "acme", "--json", "--limit", "2"])).stdout);
    expect(two).toEqual(json.slice(0, 2));
  });

  it("says so when the box does not exist", async () => {
    const r = await cli(["events", "nope", "--org", "acme"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hint: 'boxyard ls'");
  });
});
