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
const servers: Server[] = [];
const sockets = new Set<Socket>();
/** Answers one line and closes: the box's side of the connection goes to TIME_WAIT. */
let port = 0;
/** Answers one line and keeps the connection open. */
let holdPort = 0;
const id = `net${process.pid}`;
const oldId = `netold${process.pid}`;

async function listen(onConnection: (sock: Socket) => void): Promise<number> {
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    onConnection(sock);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, network!.gateway, resolve));
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  node = await createTestNode();
  network = await NodeNetwork.open({
    stateDir: join(node.dir, "net"),
    prefix: PREFIX,
    subnet: "10.214.21.0/24",
  });
  port = await listen((sock) => sock.end("host-allowed\n"));
  holdPort = await listen((sock) => sock.write("held-open\n"));
  await network.setHostPorts([port, holdPort]);
  rt = node.runtime({ network });
});

afterAll(async () => {
  await rt?.destroy(id).catch(() => {});
  await rt?.destroy(oldId).catch(() => {});
  for (const s of sockets) s.destroy();
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  try {
    expect(await node.leaks()).toEqual([]);
    await network?.close({ removeBridge: true });
    expect(isEmptyCensus(await census(PREFIX))).toBe(true);
  } finally {
    await node?.close();
  }
});

const sh = async (r: GvisorRuntime, box: string, script: string) =>
  (await r.exec(box, { command: ["sh", "-c", script] })).stdout.toString();
/** A job that outlives its exec (init's child), to prove processes survive. */
const job = "setsid sleep 1001 >/dev/null 2>&1 </dev/null & echo started";
const jobAlive = "ps -o args | grep -c '^[s]leep 1001$'";

describe("gvisor box on the node network", () => {
  it("gets its address, reaches an allowed host port, and keeps networking across checkpoint and stop", async () => {
    const prepared = await rt.prepare(node.spec(id));
    expect(prepared.address).toMatch(/^10\.214\.21\.\d+$/);
    await rt.start(id);
    const gw = network!.gateway;
    const probe = `echo hi | nc -w 5 ${gw} ${port}`;
    expect(await sh(rt, id, "ip -4 addr")).toContain(prepared.address);
    expect(await sh(rt, id, job)).toBe("started\n");
    // One connection stays open, one is closed (TIME_WAIT for about a minute):
    // netstack refuses to save either unless the sandbox may drop them.
    await sh(
      rt,
      id,
      `setsid sh -c 'sleep 1000 | nc ${gw} ${holdPort} > /tmp/held' >/dev/null 2>&1 </dev/null &`,
    );
    expect(await sh(rt, id, probe)).toBe("host-allowed\n");
    await expect.poll(() => sh(rt, id, "cat /tmp/held"), { timeout: 5_000 }).toBe("held-open\n");
    expect(await sh(rt, id, "ps -o args | grep -c '^[n]c '")).toBe("1\n");

    expect((await rt.checkpoint(id)).phase).toBe("checkpointed");
    expect((await rt.resume(id)).address).toBe(prepared.address);
    expect(await sh(rt, id, jobAlive)).toBe("1\n");
    // The open connection was aborted by the save: its reader ended.
    await expect.poll(() => sh(rt, id, "ps -o args | grep -c '^[n]c '"), { timeout: 5_000 }).toBe("0\n");
    expect(await sh(rt, id, probe)).toBe("host-allowed\n");
    // Again at once, with the new connection in TIME_WAIT, from a hot pause.
    await rt.pause(id);
    expect((await rt.checkpoint(id)).phase).toBe("checkpointed");
    await rt.resume(id);
    expect(await sh(rt, id, jobAlive)).toBe("1\n");

    await rt.stop(id);
    await rt.start(id);
    expect(await sh(rt, id, probe)).toBe("host-allowed\n");

    await rt.destroy(id);
    expect(await network!.get(id)).toBeNull();
  }, 180_000);

  it("leaves a box whose sandbox cannot drop connections as it was when a cold pause is refused", async () => {
    // As a sandbox started by a driver without --net-disconnect-ok.
    const old = node.runtime({ network, netDisconnectOk: false });
    await old.prepare(node.spec(oldId));
    await old.start(oldId);
    expect(await sh(old, oldId, job)).toBe("started\n");
    expect(await sh(old, oldId, `echo hi | nc -w 5 ${network!.gateway} ${port}`)).toBe("host-allowed\n");
    // An open connection, which such a sandbox can never save. (The probe's own
    // closed connection is in TIME_WAIT only in the box when the box's side
    // happened to close first, so it alone would make this test a race.)
    await sh(
      old,
      oldId,
      `setsid sh -c 'sleep 1000 | nc ${network!.gateway} ${holdPort} > /tmp/held' >/dev/null 2>&1 </dev/null &`,
    );
    await expect.poll(() => sh(old, oldId, "cat /tmp/held"), { timeout: 5_000 }).toBe("held-open\n");

    const refused = {
      code: "checkpoint_refused",
      message: expect.stringMatching(/open or closed.*TIME_WAIT.*stays running/),
    };
    await expect(old.checkpoint(oldId)).rejects.toMatchObject(refused);
    expect((await old.inspect(oldId))?.phase).toBe("running");
    expect(await sh(old, oldId, jobAlive)).toBe("1\n");

    await old.pause(oldId);
    await expect(old.checkpoint(oldId)).rejects.toMatchObject({
      code: "checkpoint_refused",
      message: expect.stringMatching(/stays paused$/),
    });
    expect((await old.inspect(oldId))?.phase).toBe("paused");
    await old.resume(oldId);
    expect(await sh(old, oldId, jobAlive)).toBe("1\n");
    await old.destroy(oldId);
  }, 120_000);
});
