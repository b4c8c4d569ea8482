// Egress through an uplink, with an "upstream" netns standing in for the
// internet (catalogue A2 and the egress policies). The upstream sits on
// 198.51.100.0/30 (TEST-NET-2, not a private range, so allow-all applies to
// it) and carries a fake metadata server on 169.254.169.254. Nothing here is
// routed towards eth0: box traffic for the metadata address is steered to
// the upstream by a policy rule that matches only this test's bridge.
// Prefix "byt2", subnet 10.214.2.0/24, routing table 21402.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { census } from "./census.ts";
import { NodeNetwork } from "./node-network.ts";
import { inNetns, ip, type ServerHandle, startTcpServer, tcpProbe } from "./testing/harness.ts";
import type { BoxNetwork } from "./types.ts";

const PREFIX = "byt2";
const SUBNET = "10.214.2.0/24";
const UPLINK = "byt2-up0";
const UPSTREAM_NS = "byt2-upstream";
const UPSTREAM_PATH = `/var/run/netns/${UPSTREAM_NS}`;
const HOST_SIDE = "198.51.100.1";
const UPSTREAM = "198.51.100.2";
const METADATA = "169.254.169.254";
const TABLE = "21402";
const BRIDGE = `${PREFIX}br0`;

let stateDir = "";
let network: NodeNetwork | null = null;
const servers: ServerHandle[] = [];
const boxes: Record<string, BoxNetwork> = {};
let ruleAdded = false;
let metadataLog = "";

async function cleanup(): Promise<void> {
  for (const s of servers.splice(0)) await s.stop();
  await network?.close({ removeBridge: true });
  network = null;
  if (ruleAdded) {
    await ip("rule", "del", "iif", BRIDGE, "to", `${METADATA}/32`, "lookup", TABLE);
    ruleAdded = false;
  }
  await ip("route", "flush", "table", TABLE).catch(() => undefined);
  // The veth pair goes with its host end, at once (a netns deletion also removes it, but later, from the
  // kernel's cleanup work: a census right after could still see it).
  await ip("link", "del", UPLINK).catch(() => undefined);
  await ip("netns", "del", UPSTREAM_NS).catch(() => undefined);
  if (stateDir !== "") await rm(stateDir, { recursive: true, force: true });
}

async function makeUpstream(): Promise<void> {
  await ip("netns", "add", UPSTREAM_NS);
  await ip("link", "add", UPLINK, "type", "veth", "peer", "name", "up1", "netns", UPSTREAM_NS);
  await ip("addr", "add", `${HOST_SIDE}/30`, "dev", UPLINK);
  await ip("link", "set", UPLINK, "up");
  const inside = [
    "link set lo up",
    "link set up1 up",
    `addr add ${UPSTREAM}/30 dev up1`,
    // This kernel has no dummy interfaces; the upstream's loopback serves.
    `addr add ${METADATA}/32 dev lo`,
    // So the upstream could try to open connections into the box subnet.
    `route add ${SUBNET} via ${HOST_SIDE}`,
  ];
  const r = await inNetns(null, ["ip", "-n", UPSTREAM_NS, "-batch", "-"], `${inside.join("\n")}\n`);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  // Metadata traffic from this test's bridge only goes to the upstream netns.
  await ip("route", "add", `${METADATA}/32`, "via", UPSTREAM, "dev", UPLINK, "table", TABLE);
  await ip("rule", "add", "iif", BRIDGE, "to", `${METADATA}/32`, "lookup", TABLE);
  ruleAdded = true;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "byt2-"));
  metadataLog = join(stateDir, "metadata-hits.log");
  await makeUpstream();
  for (const port of [8001, 8002]) {
    servers.push(
      await startTcpServer(UPSTREAM_PATH, {
        ip: UPSTREAM,
        port,
        shellReply: `echo up-${port} from $SOCAT_PEERADDR`,
      }),
    );
  }
  servers.push(
    await startTcpServer(UPSTREAM_PATH, {
      ip: METADATA,
      port: 80,
      shellReply: `echo hit $SOCAT_PEERADDR >> ${metadataLog}; echo CANARY-metadata-credential`,
    }),
  );
  network = await NodeNetwork.open({
    stateDir,
    prefix: PREFIX,
    subnet: SUBNET,
    uplink: UPLINK,
    // Allow-list host names resolve through this resolver, so no DNS is asked.
    resolver: async (name) => (name === "mirror.test" ? [UPSTREAM] : []),
  });
  boxes.all = await network.attach("eg_all", { egress: "allow-all" });
  boxes.deny = await network.attach("eg_deny", { egress: "deny-all" });
  boxes.list = await network.attach("eg_list", { egress: { allow: [`${UPSTREAM}:8001`] } });
  boxes.named = await network.attach("eg_named", { egress: { allow: ["mirror.test:8002"] } });
});

afterAll(cleanup);

function box(name: string): BoxNetwork {
  const b = boxes[name];
  if (b === undefined) throw new Error(`no box ${name}`);
  return b;
}

describe("box egress through an uplink", () => {
  it("an allow-all box reaches the upstream, masqueraded behind the uplink address", async () => {
    expect(await tcpProbe(box("all").netnsPath, UPSTREAM, 8001)).toEqual({
      kind: "ok",
      data: `up-8001 from ${HOST_SIDE}`,
    });
    expect((await tcpProbe(box("all").netnsPath, UPSTREAM, 8002)).kind).toBe("ok");
  });

  it("a deny-all box reaches nothing behind the uplink", async () => {
    for (const port of [8001, 8002]) {
      expect((await tcpProbe(box("deny").netnsPath, UPSTREAM, port, { timeoutMs: 1000 })).kind).toBe(
        "timeout",
      );
    }
  });

  it("an allow-list box reaches only the listed ip:port", async () => {
    expect((await tcpProbe(box("list").netnsPath, UPSTREAM, 8001)).kind).toBe("ok");
    expect((await tcpProbe(box("list").netnsPath, UPSTREAM, 8002, { timeoutMs: 1000 })).kind).toBe("timeout");
  });

  it("allow-list host names are resolved at attach time", async () => {
    expect((await tcpProbe(box("named").netnsPath, UPSTREAM, 8002)).kind).toBe("ok");
    expect((await tcpProbe(box("named").netnsPath, UPSTREAM, 8001, { timeoutMs: 1000 })).kind).toBe(
      "timeout",
    );
  });

  it("A2: no box reaches the metadata address, though a route to it exists", async () => {
    // Without the policy the packet would go to the fake metadata server.
    const route = await ip("route", "get", METADATA, "from", box("all").address, "iif", BRIDGE);
    expect(route).toContain(`dev ${UPLINK}`);
    for (const name of ["all", "deny", "list", "named"]) {
      const r = await tcpProbe(box(name).netnsPath, METADATA, 80, { timeoutMs: 1000 });
      expect(r.kind, name).not.toBe("ok");
    }
    const hits = await readFile(metadataLog, "utf8").catch(() => "");
    expect(hits).toBe("");
    // Control: the fake metadata server itself answers inside the upstream.
    expect(await tcpProbe(UPSTREAM_PATH, METADATA, 80)).toEqual({
      kind: "ok",
      data: "CANARY-metadata-credential",
    });
  });

  it("A3: boxes cannot reach each other by routing through the forwarding gateway", async () => {
    const target = box("deny");
    servers.push(
      await startTcpServer(target.netnsPath, { ip: target.address, port: 7002, shellReply: "echo hi" }),
    );
    const from = box("all");
    await inNetns(from.netnsPath, ["ip", "route", "add", `${target.address}/32`, "via", from.gateway]);
    try {
      expect((await tcpProbe(from.netnsPath, target.address, 7002, { timeoutMs: 1000 })).kind).not.toBe("ok");
    } finally {
      await inNetns(from.netnsPath, ["ip", "route", "del", `${target.address}/32`]);
    }
  });

  it("the upstream cannot open connections into a box", async () => {
    const target = box("all");
    servers.push(
      await startTcpServer(target.netnsPath, { ip: target.address, port: 7003, shellReply: "echo hi" }),
    );
    expect((await tcpProbe(UPSTREAM_PATH, target.address, 7003, { timeoutMs: 1000 })).kind).toBe("timeout");
  });

  it("a policy change on re-attach takes effect through set updates", async () => {
    const id = "eg_deny";
    await network?.attach(id, { egress: "allow-all" });
    expect((await tcpProbe(box("deny").netnsPath, UPSTREAM, 8001)).kind).toBe("ok");
    await network?.attach(id, { egress: { allow: [`${UPSTREAM}:8002`] } });
    expect((await tcpProbe(box("deny").netnsPath, UPSTREAM, 8001, { timeoutMs: 1000 })).kind).toBe("timeout");
    expect((await tcpProbe(box("deny").netnsPath, UPSTREAM, 8002)).kind).toBe("ok");
    await network?.attach(id, { egress: "deny-all" });
    expect((await tcpProbe(box("deny").netnsPath, UPSTREAM, 8002, { timeoutMs: 1000 })).kind).toBe("timeout");
  });

  it("forwarding is enabled per interface only, never globally", async () => {
    const conf = (dev: string) => readFile(`/proc/sys/net/ipv4/conf/${dev}/forwarding`, "utf8");
    expect((await conf(BRIDGE)).trim()).toBe("1");
    expect((await conf(UPLINK)).trim()).toBe("1");
    expect((await conf("eth0")).trim()).toBe("0");
    expect((await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim()).toBe("0");
  });

  it("leaves nothing behind (leak census)", async () => {
    await cleanup();
    expect(await census(PREFIX)).toEqual({ netns: [], links: [], nftTables: [] });
    expect(await ip("rule", "show")).not.toContain(BRIDGE);
    expect(await ip("route", "show", "table", "all")).not.toContain(UPLINK);
  });
});
