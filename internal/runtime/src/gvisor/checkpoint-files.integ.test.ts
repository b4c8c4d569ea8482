// A cold pause's checkpoint on disk: gone once the box is restored (moved
// aside at once, removed in the background, off the resume's path), and one
// left behind by a crash during that removal is swept by the next checkpoint.

import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const id = `ckfiles${process.pid}`;

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

const boxDir = () => join(rt.stateDir, "boxes", id);
const checkpoints = async () => (await readdir(boxDir())).filter((n) => n.startsWith("checkpoint")).sort();

it("a restored box's checkpoint is gone; one a crash left is swept by the next checkpoint", async () => {
  await rt.checkpoint(id);
  expect(await checkpoints()).toEqual(["checkpoint"]);
  expect((await readdir(join(boxDir(), "checkpoint"))).length).toBeGreaterThan(0);

  expect((await rt.resume(id)).phase).toBe("running");
  // No checkpoint a later resume could take for this box's state.
  expect(await checkpoints()).not.toContain("checkpoint");
  for (const deadline = Date.now() + 10_000; (await checkpoints()).length > 0; ) {
    if (Date.now() > deadline) throw new Error(`still there: ${await checkpoints()}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  // What a crash during the background removal would leave.
  await mkdir(join(boxDir(), "checkpoint.spent-crashed"));
  await writeFile(join(boxDir(), "checkpoint.spent-crashed", "pages"), Buffer.alloc(1 << 20));
  await rt.checkpoint(id);
  expect(await checkpoints()).toEqual(["checkpoint"]);
  expect((await rt.resume(id)).phase).toBe("running");
  expect((await rt.exec(id, { command: ["echo", "back"] })).stdout.toString()).toBe("back\n");
}, 120_000);
