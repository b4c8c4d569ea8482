// The gvisor driver on the real node network (@boxyard/netns NodeNetwork):
// netstack in the box's own netns through the mount-namespace recipe for
// `runsc run` and `runsc restore`, networks.reset() before each, and the
// network released by destroy. Prefix "byr1", subnet 10.214.21.0/24.

import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { census, isEmptyCensus, NodeNetwork } from "@boxyard/netns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

const PREFIX = "byr1";
let node: TestNode;
let network: NodeNetwork | undefined;
let rt: GvisorRuntime;
let server: Server | undefined;
const sockets = new Set<Socket>();
let port = 0;
const id = `net${process.pid}`;

beforeAll(async () => {
  node = await createTestNode();
  network = await NodeNetwork.open({
    stateDir: join(node.dir, "net"),
    prefix: PREFIX,
    subnet: "10.214.21.0/24",
  });
  const gateway = network.gateway;
  server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.end("host-allowed\n");
  });
  await new Promise<void>((resolve) => server!.listen(0, gateway, resolve));
  port = (server.address() as { port: number }).port;
  await network.setHostPorts([port]);
  rt = node.runtime({ network });
});

afterAll(async () => {
  await rt?.destroy(id).catch(() => {});
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server?.close(resolve));
  try {
    expect(await node.leaks()).toEqual([]);
    await network?.close({ removeBridge: true });
    expect(isEmptyCensus(await census(PREFIX))).toBe(true);
  } finally {
    await node?.close();
  }
});

describe("gvisor box on the node network", () => {
  it("gets its address, reaches an allowed host port, and keeps networking across checkpoint and stop", async () => {
    const prepared = await rt.prepare(node.spec(id));
    expect(prepared.address).toMatch(/^10\.214\.21\.\d+$/);
    await rt.start(id);
    const gw = network!.gateway;
    const probe = `echo hi | nc -w 5 ${gw} ${port}`;
    const addr = await rt.exec(id, { command: ["sh", "-c", "ip -4 addr"] });
    expect(addr.stdout.toString()).toContain(prepared.address);
    // Checkpoint first: runsc's netstack refuses to save a TCP endpoint that
    // is still in TIME_WAIT (about a minute after a connection closes).
    await rt.checkpoint(id);
    expect((await rt.resume(id)).address).toBe(prepared.address);
    expect((await rt.exec(id, { command: ["sh", "-c", probe] })).stdout.toString()).toBe("host-allowed\n");
    // Now a connection is in TIME_WAIT: checkpoint fails, and with this runsc
    // the sandbox ends with it; the driver reports the box stopped.
    await expect(rt.checkpoint(id)).rejects.toMatchObject({ code: "sandbox_failed" });
    expect((await rt.inspect(id))?.phase).toMatch(/^(running|stopped)$/);

    await rt.stop(id);
    await rt.start(id);
    expect((await rt.exec(id, { command: ["sh", "-c", probe] })).stdout.toString()).toBe("host-allowed\n");

    await rt.destroy(id);
    expect(await network!.get(id)).toBeNull();
  });
});
