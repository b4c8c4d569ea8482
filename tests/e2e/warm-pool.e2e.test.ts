// Warm pools end to end (issue 9): the built server as its own process with
// the real gVisor runtime and box network, driven through the `boxyard` CLI.
// A pool of 2 busybox boxes fills; a create is claimed and runs a command at
// once under its own name; two claimed boxes differ from each other as much
// as a fresh box does (hostname, machine-id, nobody's files); the pool
// refills; emptying it and deleting the boxes leaves nothing on the node.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNodeClean, runscRoot, startTestServer, type TestServer } from "./kit.ts";

const run = promisify(execFile);
const NODE = { prefix: "bywp", subnet: "10.221.0.0/24" };

let t: TestServer;
const ok = (args: string[]) => t.ok(args);

interface Pool {
  size: number;
  target: number;
  ready: number;
  starting: number;
  draining: number;
}

async function pool(): Promise<Pool> {
  return JSON.parse((await ok(["templates", "pool", "busybox", "--json"])).stdout) as Pool;
}

async function poolSettles(ready: number, timeoutMs = 90_000): Promise<Pool> {
  return waitFor(
    async () => {
      const p = await pool();
      return p.ready === ready && p.starting === 0 && p.draining === 0 ? p : undefined;
    },
    { timeoutMs, intervalMs: 250, message: `the busybox pool to hold ${ready} ready boxes` },
  );
}

/** What a box shows of its identity and of anyone's files. */
async function look(box: string) {
  const r = await ok([
    "exec",
    box,
    "--",
    "sh",
    "-c",
    "hostname; cat /etc/machine-id; ls -A /home/dev /workspace /tmp | tr '\\n' ' '",
  ]);
  const [hostname, machineId, files] = r.stdout.split("\n");
  return { hostname, machineId, files };
}

beforeAll(async () => {
  t = await startTestServer({ name: "wp", node: NODE });
}, 180_000);

afterAll(async () => {
  await t?.release();
}, 120_000);

describe("warm pools on gVisor", () => {
  it("fills a pool of 2 busybox boxes that nobody sees", async () => {
    const set = JSON.parse((await ok(["templates", "pool", "busybox", "--size", "2", "--json"])).stdout);
    expect(set).toMatchObject({ template: "busybox", size: 2 });
    expect((await poolSettles(2)).target).toBe(2);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    const listed = JSON.parse((await ok(["templates", "ls", "--json"])).stdout);
    expect(listed.find((t: { name: string }) => t.name === "busybox").pool).toMatchObject({ ready: 2 });
    expect((await ok(["templates", "ls"])).stdout).toMatch(/busybox.*2\/2 ready/);
    // Both pooled sandboxes run on the node.
    const { stdout } = await run("runsc", [`--root=${runscRoot(t.dataDir)}`, "list", "-quiet"]);
    expect(stdout.trim().split("\n")).toHaveLength(2);
  }, 120_000);

  it("a create is claimed: running at once, the first command sees its own name", async () => {
    const started = Date.now();
    // No --wait: the create's own answer already says running, its operation done.
    const accepted = JSON.parse((await ok(["create", "one", "--template", "busybox", "--json"])).stdout);
    expect(accepted.box).toMatchObject({ name: "one", actualState: "running" });
    expect(accepted.operation.status).toBe("succeeded");
    const first = await ok(["exec", "one", "--", "hostname"]);
    expect(first.stdout).toBe("one\n");
    console.log(`claimed create + first exec through the CLI: ${Date.now() - started} ms`);
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    expect(metrics).toMatch(/boxyard_pool_claims_total\{template="busybox",result="hit"\} 1/);
    // The claimed box's life starts at the claim.
    const ls = JSON.parse((await ok(["ls", "--json"])).stdout);
    expect(ls).toEqual([expect.objectContaining({ name: "one", actualState: "running", owner: "admin" })]);
  }, 60_000);

  it("two claimed boxes differ like fresh ones: hostname, machine-id, and nobody's files", async () => {
    await ok(["create", "two", "--template", "busybox", "--wait"]);
    const one = await look("one");
    const two = await look("two");
    // Emptying the pool makes the next create a fresh boot, to compare with.
    await ok(["templates", "pool", "busybox", "--size", "0"]);
    await poolSettles(0);
    const r = await ok(["create", "three", "--template", "busybox", "--wait"]);
    expect(r.stderr).toMatch(/three: running/);
    const three = await look("three");
    expect([one.hostname, two.hostname, three.hostname]).toEqual(["one", "two", "three"]);
    for (const b of [one, two, three]) expect(b.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set([one.machineId, two.machineId, three.machineId]).size).toBe(3);
    expect(one.files).toBe(three.files);
    expect(two.files).toBe(three.files);
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    expect(metrics).toMatch(/boxyard_pool_claims_total\{template="busybox",result="hit"\} 2/);
  }, 120_000);

  it("the pool refills after claims", async () => {
    await ok(["templates", "pool", "busybox", "--size", "2"]);
    await poolSettles(2);
    await ok(["create", "four", "--template", "busybox", "--wait"]);
    expect((await ok(["exec", "four", "--", "hostname"])).stdout).toBe("four\n");
    await poolSettles(2);
    expect(
      (await fetch(`${t.server.url}/metrics`).then((r) => r.text())).match(
        /boxyard_pool_boxes\{org="acme",template="busybox",state="ready"\} (\d+)/,
      )?.[1],
    ).toBe("2");
  }, 180_000);

  it("emptying the pool and deleting the boxes leaves nothing behind on the node", async () => {
    await ok(["templates", "pool", "busybox", "--size", "0"]);
    await poolSettles(0);
    for (const b of ["one", "two", "three", "four"]) await ok(["rm", b, "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
    t.server.child.kill("SIGTERM");
    expect(await t.server.exited).toBe(0);
  }, 120_000);
});
