// Hot pause on the gvisor driver freezes the box's cgroup (no runsc process
// on the pause or resume path). What that must keep: nothing in the box runs
// while it is paused; after the resume the box's clock reads the host's time
// and its timers fire; a session open across the pause carries on; and a
// frozen box is listed, re-adopted, refused exec, stopped and destroyed
// without anything waiting on its frozen sentry. And what a cold pause leaves
// on disk once the box is restored: nothing.

import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TextCollector } from "../wait-for.ts";
import { cgroupUsage, freezerState } from "./cgroups.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const id = `hot${process.pid}`;

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  await rt.prepare(node.spec(id));
  await rt.start(id);
}, 60_000);

afterAll(async () => {
  await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

const sh = async (script: string, r: GvisorRuntime = rt) =>
  (await r.exec(id, { command: ["sh", "-c", script] })).stdout.toString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticks = async () => (await sh("cat /tmp/ticks")).trim().split("\n").map(Number);

describe("gvisor hot pause", () => {
  it("runs nothing while paused; after the resume the box's clock is the host's and its timers fire", async () => {
    await sh(
      "setsid sh -c 'while :; do date +%s >> /tmp/ticks; sleep 0.2; done' >/dev/null 2>&1 </dev/null &",
    );
    await expect.poll(async () => (await ticks()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);

    expect((await rt.pause(id)).phase).toBe("paused");
    expect(freezerState(rt.cgroupsPath(id))).toBe("FROZEN");
    const pausedAt = Date.now() / 1000;
    const cpuBefore = (await cgroupUsage(rt.cgroupsPath(id))).cpuSeconds;
    await sleep(3_000);
    expect((await cgroupUsage(rt.cgroupsPath(id))).cpuSeconds).toBe(cpuBefore);
    const resumedAt = Date.now() / 1000;
    expect((await rt.resume(id)).phase).toBe("running");
    expect(freezerState(rt.cgroupsPath(id))).toBe("THAWED");

    const boxNow = Number(await sh("date +%s"));
    expect(Math.abs(boxNow - Date.now() / 1000)).toBeLessThan(2);
    // The ticker's sleep fires again after the resume...
    await expect
      .poll(async () => (await ticks()).filter((t) => t >= Math.floor(resumedAt)).length, { timeout: 5_000 })
      .toBeGreaterThanOrEqual(3);
    // ...and wrote nothing while the box was frozen (whole seconds: one tick may straddle each edge).
    const during = (await ticks()).filter((t) => t > Math.ceil(pausedAt) && t < Math.floor(resumedAt));
    expect(during).toEqual([]);
  }, 60_000);

  it("keeps a session open across the pause", async () => {
    const s = await rt.session(id, { command: ["sh", "-c", "while read l; do echo got:$l; done"] });
    const out = new TextCollector(s.stdout);
    s.stdin.write("a\n");
    await out.until((t) => t.includes("got:a"), { timeoutMs: 10_000, what: "the first line" });
    await rt.pause(id);
    s.stdin.write("b\n");
    await sleep(500);
    expect(out.text).not.toContain("got:b");
    await rt.resume(id);
    await out.until((t) => t.includes("got:b"), { timeoutMs: 10_000, what: "the line sent while paused" });
    s.stdin.end();
    expect(await s.exited).toBe(0);
  }, 60_000);

  // A cold pause's checkpoint on disk: gone once the box is restored (moved aside at once, removed in
  // the background, off the resume's path); one a crash left during that removal is swept by the next.
  it("a restored box's checkpoint is gone; one a crash left is swept by the next checkpoint", async () => {
    const boxDir = join(rt.stateDir, "boxes", id);
    const checkpoints = async () => (await readdir(boxDir)).filter((n) => n.startsWith("checkpoint")).sort();
    await rt.checkpoint(id);
    expect(await checkpoints()).toEqual(["checkpoint"]);
    expect((await readdir(join(boxDir, "checkpoint"))).length).toBeGreaterThan(0);
    expect((await rt.resume(id)).phase).toBe("running");
    // No checkpoint a later resume could take for this box's state.
    expect(await checkpoints()).not.toContain("checkpoint");
    await expect.poll(checkpoints, { timeout: 10_000 }).toEqual([]);

    // What a crash during the background removal would leave.
    await mkdir(join(boxDir, "checkpoint.spent-crashed"));
    await writeFile(join(boxDir, "checkpoint.spent-crashed", "pages"), Buffer.alloc(1 << 20));
    await rt.checkpoint(id);
    expect(await checkpoints()).toEqual(["checkpoint"]);
    expect((await rt.resume(id)).phase).toBe("running");
    expect(await sh("echo back")).toBe("back\n");
  }, 120_000);

  it("lists, re-adopts, refuses exec on, stops and destroys a frozen box", async () => {
    await rt.pause(id);
    expect((await rt.list()).find((b) => b.id === id)?.phase).toBe("paused");
    const again = node.runtime();
    const seen = await again.inspect(id);
    expect(seen?.phase).toBe("paused");
    expect(seen?.pid).toBe((await rt.inspect(id))?.pid);
    await expect(again.exec(id, { command: ["true"] })).rejects.toMatchObject({ code: "invalid_box_state" });
    expect((await again.resume(id)).phase).toBe("running");
    expect(await sh("echo back", again)).toBe("back\n");

    await again.pause(id);
    expect((await again.stop(id)).phase).toBe("stopped");
    expect((await again.start(id)).phase).toBe("running");
    await again.pause(id);
    await again.destroy(id);
    expect(await again.inspect(id)).toBeNull();
  }, 120_000);
});
