// A box's identity under real runsc: the machine-id a fresh box gets at
// prepare, and a new hostname and machine-id set while it runs (a box claimed
// from a warm pool), kept across stop and start; nothing is left behind.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidBoxStateError } from "../errors.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const ID = "identity_a";
const M1 = "0123456789abcdef0123456789abcdef";
const M2 = "fedcba9876543210fedcba9876543210";

async function sh(script: string): Promise<string> {
  const r = await rt.exec(ID, { command: ["sh", "-c", script] });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  return r.stdout.toString().trim();
}

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
});
afterAll(async () => {
  await rt?.destroy(ID).catch(() => {});
  if (node) {
    expect(await node.leaks()).toEqual([]);
    await node.close();
  }
});

describe("gvisor box identity", () => {
  it("a fresh box has its hostname and machine-id; setIdentity changes both in the running box and for later boots", async () => {
    await rt.prepare(node.spec(ID, { hostname: "pool-abc", machineId: M1 }));
    await rt.start(ID);
    expect(await sh("hostname; cat /etc/machine-id")).toBe(`pool-abc\n${M1}`);
    const pidBefore = (await rt.inspect(ID))?.pid;

    const obs = await rt.setIdentity(ID, { hostname: "claimed", machineId: M2 });
    expect(obs.identity).toEqual({ hostname: "claimed", machineId: M2 });
    expect(obs.phase).toBe("running");
    // The same sandbox, renamed in place; the box user sees it at once.
    expect(obs.pid).toBe(pidBefore);
    expect(await sh("hostname; cat /etc/machine-id; cat /proc/sys/kernel/hostname; id -u")).toBe(
      `claimed\n${M2}\nclaimed\n1000`,
    );
    // The box user cannot do the same.
    const denied = await rt.exec(ID, { command: ["hostname", "mine"] });
    expect(denied.exitCode).not.toBe(0);

    await rt.stop(ID);
    await rt.start(ID);
    expect(await sh("hostname; cat /etc/machine-id")).toBe(`claimed\n${M2}`);

    // A stopped box takes a new identity for its next boot.
    await rt.stop(ID);
    await rt.setIdentity(ID, { hostname: "third", machineId: M1 });
    await rt.start(ID);
    expect(await sh("hostname; cat /etc/machine-id")).toBe(`third\n${M1}`);

    await rt.pause(ID);
    await expect(rt.setIdentity(ID, { hostname: "x", machineId: M2 })).rejects.toBeInstanceOf(
      InvalidBoxStateError,
    );
    await rt.resume(ID);
    await expect(rt.setIdentity(ID, { hostname: "Bad_Name", machineId: M2 })).rejects.toThrow(/hostname/);
    await rt.destroy(ID);
  }, 120_000);
});
