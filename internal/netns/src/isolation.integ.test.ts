// Box isolation on a real bridge, netns and nftables, with plain network
// namespaces standing in for boxes (catalogue A1, A3). No uplink here: the
// node forwards nothing. Prefix "byt1", subnet 10.214.1.0/24.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { census } from "./census.ts";
import { NodeNetwork } from "./node-network.ts";
import {
  type HostServerHandle,
  inNetns,
  ip,
  type ServerHandle,
  startHostServer,
  startTcpServer,
  tcpProbe,
} from "./testing/harness.ts";
import type { BoxNetwork } from "./types.ts";

const PREFIX = "byt1";
const SUBNET = "10.214.1.0/24";

let stateDir = "";
let network: NodeNetwork | null = null;
const hostServers: HostServerHandle[] = [];
const boxServers: ServerHandle[] = [];
let allowedPort = 0;
let closedPort = 0;
let boxA: BoxNetwork;
let boxB: BoxNetwork;

async function listenOnGateway(gateway: string, reply: string): Promise<number> {
  const server = await startHostServer(gateway, reply);
  hostServers.push(server);
  return server.port;
}

async function cleanup(): Promise<void> {
  for (const s of boxServers.splice(0)) await s.stop();
  for (const s of hostServers.splice(0)) await s.stop();
  await network?.close({ removeBridge: true });
  network = null;
  if (stateDir !== "") await rm(stateDir, { recursive: true, force: true });
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "byt1-"));
  network = await NodeNetwork.open({ stateDir, prefix: PREFIX, subnet: SUBNET });
  // Host services bind on the gateway address only, so nothing is exposed
  // beyond the test bridge; their ports are then allowed through a set update.
  allowedPort = await listenOnGateway(network.gateway, "host-allowed");
  closedPort = await listenOnGateway(network.gateway, "host-forbidden");
  await network.setHostPorts([allowedPort]);
  boxA = await network.attach("iso_a", { egress: "allow-all" });
  boxB = await network.attach("iso_b", { egress: "deny-all" });
  boxServers.push(
    await startTcpServer(boxB.netnsPath, { ip: boxB.address, port: 7001, shellReply: "echo box-b" }),
  );
});

afterAll(cleanup);

describe("box network isolation (no uplink)", () => {
  it("A1: a box reaches an allowed host port on the gateway and is refused on another", async () => {
    expect(await tcpProbe(boxA.netnsPath, boxA.gateway, allowedPort)).toEqual({
      kind: "ok",
      data: "host-allowed",
    });
    // The host listens on closedPort too: only the policy refuses it, with an RST.
    expect((await tcpProbe(boxA.netnsPath, boxA.gateway, closedPort)).kind).toBe("refused");
    expect((await tcpProbe(boxB.netnsPath, boxB.gateway, closedPort)).kind).toBe("refused");
  });

  it("A1: UDP and ICMP to the host are not answered", async () => {
    const ping = await inNetns(boxA.netnsPath, ["busybox", "ping", "-c", "1", "-W", "1", boxA.gateway]);
    expect(ping.exitCode).not.toBe(0);
  });

  it("A3: box A cannot reach box B, while the host can", async () => {
    expect((await tcpProbe(boxA.netnsPath, boxB.address, 7001, { timeoutMs: 1000 })).kind).toBe("timeout");
    const ping = await inNetns(boxA.netnsPath, ["busybox", "ping", "-c", "1", "-W", "1", boxB.address]);
    expect(ping.exitCode).not.toBe(0);
    // The gateway relays sessions to box ports, so host -> box stays open.
    expect(await tcpProbe(null, boxB.address, 7001)).toEqual({ kind: "ok", data: "box-b" });
  });

  it("A3: box A cannot reach box B by routing through the gateway", async () => {
    // Send B's traffic to the gateway's MAC: the host must not route it back onto the bridge.
    await inNetns(boxA.netnsPath, ["ip", "route", "add", `${boxB.address}/32`, "via", boxA.gateway]);
    try {
      expect((await tcpProbe(boxA.netnsPath, boxB.address, 7001, { timeoutMs: 1000 })).kind).not.toBe("ok");
    } finally {
      await inNetns(boxA.netnsPath, ["ip", "route", "del", `${boxB.address}/32`]);
    }
  });

  it("A3: spoofed source addresses are dropped", async () => {
    const spoofs = ["10.214.1.50", boxB.address];
    for (const spoof of spoofs) {
      await inNetns(boxA.netnsPath, ["ip", "addr", "add", `${spoof}/32`, "dev", boxA.boxInterface]);
    }
    try {
      for (const spoof of spoofs) {
        const r = await tcpProbe(boxA.netnsPath, boxA.gateway, allowedPort, {
          sourceIp: spoof,
          timeoutMs: 1000,
        });
        expect(r.kind, `source ${spoof}`).toBe("timeout");
      }
      // Control: the same box with its own address still gets through.
      expect((await tcpProbe(boxA.netnsPath, boxA.gateway, allowedPort)).kind).toBe("ok");
    } finally {
      for (const spoof of spoofs) {
        await inNetns(boxA.netnsPath, ["ip", "addr", "del", `${spoof}/32`, "dev", boxA.boxInterface]);
      }
    }
  });

  it("A3: a spoofed source MAC is dropped", async () => {
    await inNetns(boxA.netnsPath, ["ip", "link", "set", boxA.boxInterface, "address", "02:b7:de:ad:be:ef"]);
    try {
      expect((await tcpProbe(boxA.netnsPath, boxA.gateway, allowedPort, { timeoutMs: 1000 })).kind).toBe(
        "timeout",
      );
    } finally {
      await inNetns(boxA.netnsPath, ["ip", "link", "set", boxA.boxInterface, "address", boxA.mac]);
    }
    expect((await tcpProbe(boxA.netnsPath, boxA.gateway, allowedPort)).kind).toBe("ok");
  });

  it("A3: gratuitous ARP from box A cannot take over box B's address on the host", async () => {
    const bridge = network?.names.bridge ?? "";
    // The host learns B's real MAC first, so an accepted spoof would overwrite it.
    expect((await tcpProbe(null, boxB.address, 7001)).kind).toBe("ok");
    await inNetns(boxA.netnsPath, ["ip", "addr", "add", `${boxB.address}/32`, "dev", boxA.boxInterface]);
    try {
      const arping = ["busybox", "arping", "-U", "-c", "2", "-w", "2", "-I", boxA.boxInterface];
      await inNetns(boxA.netnsPath, [...arping, "-s", boxB.address, boxB.address]);
    } finally {
      await inNetns(boxA.netnsPath, ["ip", "addr", "del", `${boxB.address}/32`, "dev", boxA.boxInterface]);
    }
    const neigh = await ip("neigh", "show", boxB.address, "dev", bridge);
    expect(neigh).not.toContain(boxA.mac);
    expect((await tcpProbe(null, boxB.address, 7001)).kind).toBe("ok");
  });

  it("forwards nothing without an uplink (per-interface forwarding stays off)", async () => {
    const bridge = network?.names.bridge ?? "";
    expect((await readFile(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, "utf8")).trim()).toBe("0");
    expect((await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim()).toBe("0");
  });

  it("leaves nothing behind (leak census)", async () => {
    await cleanup();
    expect(await census(PREFIX)).toEqual({ netns: [], links: [], nftTables: [] });
  });
});
