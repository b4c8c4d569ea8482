// Measures the gvisor driver's operations on a busybox box and prints one
// line per phase (milliseconds). Run: npx tsx internal/runtime/src/gvisor/testdata/timings.ts
// It cleans up after itself and exits non-zero if anything leaked.

import { createTestNode } from "../test-node.ts";

const node = await createTestNode();
const rt = node.runtime();
const id = `tm${process.pid}`;
const rows: Array<[string, number]> = [];
const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await fn();
  rows.push([label, performance.now() - t]);
  return r;
};
try {
  await time("prepare (1 GiB disk, mkfs, overlay)", () => rt.prepare(node.spec(id)));
  await time("start (runsc run --detach)", () => rt.start(id));
  for (let i = 0; i < 5; i++) await time("exec `true`", () => rt.exec(id, { command: ["true"] }));
  await rt.exec(id, { command: ["sh", "-c", "nohup sleep 1000 >/dev/null 2>&1 </dev/null &"] });
  await time("pause (hot)", () => rt.pause(id));
  await time("resume (hot)", () => rt.resume(id));
  await time("checkpoint (cold)", () => rt.checkpoint(id));
  await time("resume (restore)", () => rt.resume(id));
  await time("stop", () => rt.stop(id));
  await time("start again", () => rt.start(id));
  await time("destroy", () => rt.destroy(id));
} finally {
  await rt.destroy(id).catch(() => {});
  const leaks = await node.leaks();
  await node.close();
  const agg = new Map<string, number[]>();
  for (const [k, v] of rows) agg.set(k, [...(agg.get(k) ?? []), v]);
  for (const [k, vs] of agg) {
    const avg = vs.reduce((a, b) => a + b, 0) / vs.length;
    console.log(
      `${k.padEnd(40)} ${avg.toFixed(0).padStart(6)} ms${vs.length > 1 ? ` (avg of ${vs.length})` : ""}`,
    );
  }
  if (leaks.length > 0) {
    console.error("leaked:", leaks);
    process.exitCode = 1;
  }
}
