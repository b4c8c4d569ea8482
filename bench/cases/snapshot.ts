// snapshot-*: does restoring a template's booted-and-initialised sandbox
// beat booting one (the issue's "snapshot restore ... where it beats a cold
// boot: measure")? Raw runsc only, no Boxyard: the "boxyard" column is the
// restore path, the floor column the boot path, so a ratio below 1.0 means a
// restore is sooner.
//
//   snapshot-tiny  restore of a booted, idle sandbox + `exec`
//                  vs `runsc run` + `exec` (the boot a pool fill does now)
//   snapshot-init  restore of a sandbox checkpointed after an init (a CPU
//                  loop and BENCH_SNAPSHOT_MIB MiB written to its tmpfs, as a
//                  dependency install or a warmed-up tool would leave) + `exec`
//                  vs `runsc run` + the same init + `exec`
//
// Both sides run under a box's limits (0.25 CPU, 512 MiB): a pool fill has
// them, and a restore is CPU work. One checkpoint is restored into every
// sample's new sandbox (the way a template snapshot would be used).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type CaseContext, type CaseOutput, envInt, progress, RawFloor, stats, timed } from "./common.ts";

const run = promisify(execFile);

export async function snapshot(ctx: CaseContext): Promise<CaseOutput> {
  const n = envInt("BENCH_SNAPSHOT_N", 8);
  const mib = envInt("BENCH_SNAPSHOT_MIB", 64);
  const raw = new RawFloor(join(ctx.work, "raw-snapshot"), ctx.rootfs, { cpu: 0.25, memoryMiB: 512 });
  const exec = async (id: string, args: string[]) =>
    (
      await run(
        "runsc",
        [`--root=${raw.root}`, "--platform=systrap", "--network=none", "exec", id, ...args],
        {
          maxBuffer: 1 << 20,
          timeout: 300_000,
        },
      )
    ).stdout;
  // The init: a second or so of CPU (under a quarter CPU: a few) and files in memory (/tmp is the sandbox's tmpfs).
  const init = [
    "/bin/sh",
    "-c",
    `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; dd if=/dev/urandom of=/tmp/warm bs=1M count=${mib} 2>/dev/null; echo done`,
  ];
  const ready = async (id: string) => {
    if ((await raw.exec(id)) !== "ready\n") throw new Error(`snapshot ${id}: exec output`);
  };
  const rows: Record<string, { restore: number[]; boot: number[] }> = {
    "snapshot-tiny": { restore: [], boot: [] },
    "snapshot-init": { restore: [], boot: [] },
  };
  let seq = 0;
  const nextId = () => `s${String(seq++).padStart(4, "0")}`;
  try {
    // The two template snapshots, taken once (untimed).
    const tinyImage = join(raw.dir, "image-tiny");
    const initImage = join(raw.dir, "image-init");
    await raw.start("tpl0");
    await ready("tpl0");
    await raw.checkpoint("tpl0", tinyImage);
    await raw.start("tpl1");
    if ((await exec("tpl1", init)) !== "done\n") throw new Error("snapshot: the init failed");
    await raw.checkpoint("tpl1", initImage);
    await raw.destroy("tpl0");
    await raw.destroy("tpl1");

    for (let i = 0; i < n; i++) {
      progress(`snapshot ${i + 1}/${n}`);
      // In turn, so that the machine's load falls on both sides alike.
      for (const [row, image, withInit] of [
        ["snapshot-tiny", tinyImage, false],
        ["snapshot-init", initImage, true],
      ] as const) {
        const a = nextId();
        const [r] = await timed(async () => {
          await raw.start(a, image);
          await ready(a);
        });
        rows[row]?.restore.push(r);
        await raw.destroy(a);
        const b = nextId();
        const [f] = await timed(async () => {
          await raw.start(b);
          if (withInit && (await exec(b, init)) !== "done\n") throw new Error("snapshot: the init failed");
          await ready(b);
        });
        rows[row]?.boot.push(f);
        await raw.destroy(b);
      }
    }
  } finally {
    await raw.destroyAll();
  }
  const left = await raw.census();
  if (left.length) throw new Error(`snapshot left: ${left.join("; ")}`);
  const results: CaseOutput["results"] = {};
  for (const [row, { restore, boot }] of Object.entries(rows))
    results[row] = { boxyard: stats(restore), floor: stats(boot), ratio: 0, unit: "ms" };
  const p50 = (row: string, side: "restore" | "boot") => stats(rows[row]?.[side] ?? []).p50.toFixed(0);
  return {
    results,
    notes: [
      `snapshot: raw runsc only; "boxyard" = restore of a template snapshot + exec, floor = boot (run [+ init] + exec); ratio < 1 = restore wins. tiny ${p50("snapshot-tiny", "restore")} vs ${p50("snapshot-tiny", "boot")} ms; after an init (CPU loop + ${mib} MiB in tmpfs) ${p50("snapshot-init", "restore")} vs ${p50("snapshot-init", "boot")} ms (0.25 CPU, 512 MiB each)`,
    ],
  };
}
