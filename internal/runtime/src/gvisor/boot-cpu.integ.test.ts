// A box brought up with more CPU than its own (GvisorRuntimeOptions.bootCpu):
// runsc gets the boot share in the bundle, and the box's cgroup holds its own
// limit once runsc returns and the grace has passed (bootCpuGraceMs), after a
// start and after a restore, also when the agent that booted it is gone. A
// box spinning on the CPU then gets no more than its limit (A-group: resources).

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupUsage, cpuQuota } from "./cgroups.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
const ids: Array<[GvisorRuntime, string]> = [];

beforeAll(async () => {
  node = await createTestNode();
});

afterAll(async () => {
  for (const [rt, id] of ids) await rt.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

async function startBox(rt: GvisorRuntime, id: string, cpu: number) {
  ids.push([rt, id]);
  await rt.prepare(node.spec(id, { resources: { cpu } }));
  await rt.start(id);
}

/** The CPU quota runsc was given in the bundle, in microseconds per 100 ms. */
async function bundleQuota(id: string): Promise<number> {
  const config = JSON.parse(
    await readFile(join(node.stateDir, "boxes", id, "bundle", "config.json"), "utf8"),
  );
  expect(config.linux.resources.cpu.period).toBe(100_000);
  return config.linux.resources.cpu.quota;
}

/** CPU seconds the box's cgroup used while a busy loop ran in it for `seconds`. */
async function spin(rt: GvisorRuntime, id: string, seconds: number): Promise<number> {
  const cg = rt.cgroupsPath(id);
  const before = (await cgroupUsage(cg)).cpuSeconds ?? 0;
  await rt.exec(id, {
    command: ["sh", "-c", `end=$(($(date +%s) + ${seconds})); while [ $(date +%s) -lt $end ]; do :; done`],
    timeoutMs: 60_000,
  });
  return ((await cgroupUsage(cg)).cpuSeconds ?? 0) - before;
}

describe("boot CPU", () => {
  it("boots and restores with two CPUs, then holds the box to its quarter CPU", async () => {
    // No grace: the limit as soon as runsc returns.
    const rt = node.runtime({ bootCpuGraceMs: 0 });
    const id = `bootcpu${process.pid}`;
    await startBox(rt, id, 0.25);
    expect(await bundleQuota(id)).toBe(200_000);
    expect(cpuQuota(rt.cgroupsPath(id))).toBe(25_000);
    // Three seconds of spinning under a quarter CPU: about 0.75 s of CPU, never the 3 s it would take unlimited.
    expect(await spin(rt, id, 3)).toBeLessThan(1.5);

    await rt.checkpoint(id);
    await rt.resume(id);
    expect(await bundleQuota(id)).toBe(200_000);
    expect(cpuQuota(rt.cgroupsPath(id))).toBe(25_000);
    expect(await spin(rt, id, 3)).toBeLessThan(1.5);
  }, 120_000);

  it("keeps the box's own limit from the start with bootCpu 0, and a larger box's limit as it is", async () => {
    const off = node.runtime({ bootCpu: 0 });
    const small = `bootoff${process.pid}`;
    await startBox(off, small, 0.5);
    expect(await bundleQuota(small)).toBe(50_000);
    expect(cpuQuota(off.cgroupsPath(small))).toBe(50_000);

    const rt = node.runtime({ bootCpuGraceMs: 0 });
    const big = `bootbig${process.pid}`;
    await startBox(rt, big, 3);
    expect(await bundleQuota(big)).toBe(300_000);
    expect(cpuQuota(rt.cgroupsPath(big))).toBe(300_000);
  }, 120_000);

  it("keeps the boot share for its grace after a start and a restore, then the box's own", async () => {
    const rt = node.runtime({ bootCpuGraceMs: 1_500 });
    const id = `bootgrace${process.pid}`;
    ids.push([rt, id]);
    await rt.prepare(node.spec(id, { resources: { cpu: 0.25 } }));
    let up = Date.now();
    await rt.start(id);
    const cg = rt.cgroupsPath(id);
    expect(cpuQuota(cg)).toBe(200_000);
    await untilQuota(cg, 25_000);
    expect(Date.now() - up).toBeGreaterThanOrEqual(1_400);
    expect(await spin(rt, id, 2)).toBeLessThan(1.2);

    await rt.checkpoint(id);
    up = Date.now();
    await rt.resume(id);
    expect(cpuQuota(cg)).toBe(200_000);
    await untilQuota(cg, 25_000);
    expect(Date.now() - up).toBeGreaterThanOrEqual(1_400);

    // A stop inside the grace: nothing is left to change later, and the next start has a grace of its own.
    await rt.stop(id);
    expect(cpuQuota(cg)).toBeUndefined();
    up = Date.now();
    await rt.start(id);
    expect(cpuQuota(cg)).toBe(200_000);
    await untilQuota(cg, 25_000);
    expect(Date.now() - up).toBeGreaterThanOrEqual(1_400);
  }, 120_000);

  it("holds a box to its limit at the first look of an agent started after the one that booted it", async () => {
    const before = node.runtime({ bootCpuGraceMs: 600_000 });
    const id = `bootagent${process.pid}`;
    await startBox(before, id, 0.25);
    const cg = before.cgroupsPath(id);
    expect(cpuQuota(cg)).toBe(200_000);
    // The agent that booted it is gone (its timer with it); the next one lists its boxes.
    const after = node.runtime({ bootCpuGraceMs: 600_000 });
    ids.push([after, id]);
    expect((await after.list()).find((b) => b.id === id)?.phase).toBe("running");
    await untilQuota(cg, 25_000);
  }, 120_000);
});

/** Waits until the cgroup's quota is `quota` (up to 10 s). */
async function untilQuota(cg: string, quota: number): Promise<void> {
  const start = Date.now();
  while (cpuQuota(cg) !== quota) {
    if (Date.now() - start > 10_000)
      throw new Error(`${cg}: quota ${cpuQuota(cg)}, not ${quota}, after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
