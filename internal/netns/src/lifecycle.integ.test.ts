// Attach/reset/detach lifecycle on the real host: idempotence, recovery from
// a crash half-way, re-adoption by a new NodeNetwork over the same state
// directory (catalogue D1/D4 at the network layer), pool exhaustion, and
// timings. Prefixes "byt3" (10.214.3.0/24) and "byt4" (10.214.4.0/30).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { census } from "./census.ts";
import { type CommandRunner, spawnRunner } from "./commands.ts";
import { NetworkError } from "./errors.ts";
import { boxNames } from "./names.ts";
import { NodeNetwork } from "./node-network.ts";
import { type HostServerHandle, inNetns, ip, startHostServer, tcpProbe } from "./testing/harness.ts";

const PREFIX = "byt3";
const SUBNET = "10.214.3.0/24";
const TINY_PREFIX = "byt4";

let stateDir = "";
let tinyStateDir = "";
let network: NodeNetwork | null = null;
let tiny: NodeNetwork | null = null;
let hostServer: HostServerHandle | null = null;
let hostPort = 0;
/** Makes the next nft command fail, to exercise attach's clean-up stack. */
let failNextNft = false;

const runner: CommandRunner = async (argv, opts) => {
  if (failNextNft && argv[0] === "nft") {
    failNextNft = false;
    return { exitCode: 1, stdout: "", stderr: "injected failure" };
  }
  return spawnRunner(argv, opts);
};

function openNetwork(): Promise<NodeNetwork> {
  return NodeNetwork.open({ stateDir, prefix: PREFIX, subnet: SUBNET, hostPorts: [hostPort], runner });
}

async function cleanup(): Promise<void> {
  await network?.close({ removeBridge: true });
  network = null;
  await tiny?.close({ removeBridge: true });
  tiny = null;
  await hostServer?.stop();
  hostServer = null;
  for (const dir of [stateDir, tinyStateDir]) if (dir !== "") await rm(dir, { recursive: true, force: true });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function reachesGateway(netnsPath: string, gateway: string): Promise<boolean> {
  return (await tcpProbe(netnsPath, gateway, hostPort, { timeoutMs: 1000 })).kind === "ok";
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "byt3-"));
  tinyStateDir = await mkdtemp(join(tmpdir(), "byt4-"));
  // The port is picked before the bridge exists, then served on the gateway only.
  const probe = createServer();
  hostPort = await new Promise<number>((resolve) =>
    probe.listen(0, "127.0.0.1", () => {
      const a = probe.address();
      resolve(typeof a === "object" && a !== null ? a.port : 0);
    }),
  );
  await new Promise((resolve) => probe.close(resolve));
  network = await openNetwork();
  hostServer = await startHostServer(network.gateway, "gateway", hostPort);
});

afterAll(cleanup);

describe("box network lifecycle", () => {
  it("rejects box ids that are not [a-z0-9_]{1,32} before touching the host", async () => {
    for (const bad of ["", "Box", "a-b", "../etc", "x".repeat(33), "a b"]) {
      await expect(network?.attach(bad, { egress: "deny-all" })).rejects.toMatchObject({
        code: "network_invalid_box_id",
      });
    }
  });

  it("attach is idempotent and gives the lowest free address", async () => {
    const first = await network?.attach("lc_one", { egress: "deny-all" });
    const again = await network?.attach("lc_one", { egress: "deny-all" });
    // The first call made the veth and configured the inside (a first start needs no reset); the second did not.
    expect(first?.configured).toBe(true);
    expect(again?.configured).toBeUndefined();
    expect(again).toEqual({ ...first, configured: undefined });
    expect(first?.address).toBe("10.214.3.2");
    expect((await census(PREFIX)).netns).toEqual([first?.netnsName]);
    expect(await reachesGateway(first?.netnsPath ?? "", first?.gateway ?? "")).toBe(true);
  });

  it("concurrent attaches of different boxes get distinct addresses", async () => {
    const ids = ["lc_c1", "lc_c2", "lc_c3"];
    const nets = await Promise.all(ids.map((id) => network?.attach(id, { egress: "deny-all" })));
    expect(new Set(nets.map((n) => n?.address)).size).toBe(3);
    expect(nets.map((n) => n?.address).sort()).toEqual(["10.214.3.3", "10.214.3.4", "10.214.3.5"]);
    for (const id of ids) await network?.detach(id);
  });

  it("detach is idempotent and releases the address for the next box", async () => {
    const two = await network?.attach("lc_two", { egress: "deny-all" });
    expect(two?.address).toBe("10.214.3.3");
    await network?.detach("lc_two");
    await network?.detach("lc_two");
    await network?.detach("lc_never_attached");
    expect(await network?.get("lc_two")).toBeNull();
    expect((await census(PREFIX)).netns).toHaveLength(1);
    const three = await network?.attach("lc_three", { egress: "deny-all" });
    expect(three?.address).toBe("10.214.3.3");
    await network?.detach("lc_three");
  });

  it("reset puts back the address and default route that runsc's netstack takes away", async () => {
    const net = await network?.attach("lc_reset", { egress: "deny-all" });
    if (net === undefined) throw new Error("no network");
    // What runsc does to the veth inside the netns when a sandbox starts.
    await inNetns(net.netnsPath, ["ip", "addr", "flush", "dev", net.boxInterface]);
    expect(await reachesGateway(net.netnsPath, net.gateway)).toBe(false);
    // attach on an existing box leaves the inside alone (a sandbox may own it) ...
    await network?.attach("lc_reset", { egress: "deny-all" });
    expect((await inNetns(net.netnsPath, ["ip", "-4", "addr", "show", "dev", "eth0"])).stdout).not.toContain(
      net.address,
    );
    // ... and reset puts it back.
    await network?.reset("lc_reset");
    expect(await reachesGateway(net.netnsPath, net.gateway)).toBe(true);
    const routes = (await inNetns(net.netnsPath, ["ip", "route"])).stdout;
    expect(routes).toContain(`default via ${net.gateway}`);
    await network?.reset("lc_reset");
    expect(
      (await inNetns(net.netnsPath, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).stdout
        .trim()
        .split("\n"),
    ).toHaveLength(1);
    await network?.detach("lc_reset");
    await expect(network?.reset("lc_reset")).rejects.toMatchObject({ code: "network_not_attached" });
  });

  it("attach finishes the job after a crash half-way (netns without veth, veth lost)", async () => {
    const names = boxNames(PREFIX, "lc_crash");
    await ip("netns", "add", names.netnsName);
    const net = await network?.attach("lc_crash", { egress: "deny-all" });
    expect(await reachesGateway(names.netnsPath, net?.gateway ?? "")).toBe(true);
    await ip("link", "del", names.hostVeth);
    await network?.attach("lc_crash", { egress: "deny-all" });
    expect(await reachesGateway(names.netnsPath, net?.gateway ?? "")).toBe(true);
    await network?.detach("lc_crash");
  });

  it("a failed attach releases exactly what it took", async () => {
    const before = await census(PREFIX);
    failNextNft = true;
    await expect(network?.attach("lc_fail", { egress: "deny-all" })).rejects.toBeInstanceOf(NetworkError);
    expect(await network?.get("lc_fail")).toBeNull();
    expect(await census(PREFIX)).toEqual(before);
    await expect(
      network?.attach("lc_fail", { egress: { allow: ["no-such-host.invalid:443"] } }),
    ).rejects.toMatchObject({ code: "network_invalid_egress" });
    expect(await census(PREFIX)).toEqual(before);
  });

  it("a restarted agent re-adopts allocations and rules from the state directory (D1)", async () => {
    const before = await network?.list();
    const one = await network?.get("lc_one");
    // Simulate a reboot-style loss of the rules, then an agent restart.
    const l2 = `${PREFIX}_boxes_l2`;
    await inNetns(null, ["nft", "delete", "table", "bridge", l2]);
    expect((await census(PREFIX)).nftTables).toEqual([`inet ${PREFIX}_boxes`]);
    network = await openNetwork();
    expect(await network.list()).toEqual(before);
    expect(await network.get("lc_one")).toEqual(one);
    expect(await reachesGateway(one?.netnsPath ?? "", one?.gateway ?? "")).toBe(true);
    const set = await inNetns(null, ["nft", "list", "set", "bridge", l2, "port_addrs"]);
    expect(set.stdout).toContain(`"${one?.hostVeth}" . ${one?.address}`);
    const state = JSON.parse(await readFile(join(stateDir, "network.json"), "utf8"));
    expect(Object.keys(state.boxes)).toEqual(["lc_one"]);
  });

  it("reset rebuilds a box whose netns and veth are gone (node reboot)", async () => {
    const one = await network?.get("lc_one");
    await ip("netns", "del", one?.netnsName ?? "");
    expect((await census(PREFIX)).links).not.toContain(one?.hostVeth);
    await network?.reset("lc_one");
    expect(await reachesGateway(one?.netnsPath ?? "", one?.gateway ?? "")).toBe(true);
  });

  it("refuses a state directory written for another prefix", async () => {
    await expect(
      NodeNetwork.open({ stateDir, prefix: "byt9", subnet: SUBNET, runner }),
    ).rejects.toMatchObject({
      code: "network_state_mismatch",
    });
  });

  it("pool exhaustion is a typed error and leaves nothing behind", async () => {
    tiny = await NodeNetwork.open({ stateDir: tinyStateDir, prefix: TINY_PREFIX, subnet: "10.214.4.0/30" });
    const only = await tiny.attach("tiny_one", { egress: "deny-all" });
    expect(only.address).toBe("10.214.4.2");
    await expect(tiny.attach("tiny_two", { egress: "deny-all" })).rejects.toMatchObject({
      code: "network_pool_exhausted",
    });
    expect((await census(TINY_PREFIX)).netns).toEqual([only.netnsName]);
    await tiny.detach("tiny_one");
    expect((await tiny.attach("tiny_two", { egress: "deny-all" })).address).toBe("10.214.4.2");
  });

  it("measures attach, reset and detach time", async () => {
    const attach: number[] = [];
    const reset: number[] = [];
    const detach: number[] = [];
    const ids = Array.from({ length: 10 }, (_, i) => `lc_time_${i}`);
    for (const id of ids) {
      let t = performance.now();
      await network?.attach(id, { egress: "allow-all" });
      attach.push(performance.now() - t);
      t = performance.now();
      await network?.reset(id);
      reset.push(performance.now() - t);
    }
    for (const id of ids) {
      const t = performance.now();
      await network?.detach(id);
      detach.push(performance.now() - t);
    }
    const fmt = (v: number[]) => `p50=${percentile(v, 50).toFixed(0)}ms max=${Math.max(...v).toFixed(0)}ms`;
    console.log(`netns timing (n=10): attach ${fmt(attach)}; reset ${fmt(reset)}; detach ${fmt(detach)}`);
    expect(percentile(attach, 50)).toBeLessThan(1000);
  });

  it("leaves nothing behind (leak census)", async () => {
    await cleanup();
    expect(await census(PREFIX)).toEqual({ netns: [], links: [], nftTables: [] });
    expect(await census(TINY_PREFIX)).toEqual({ netns: [], links: [], nftTables: [] });
  });
});
