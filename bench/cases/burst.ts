// burst: BENCH_BURST (default 20) creates submitted at once on one node; each
// sample is one box's time from the common start to its first `exec` output,
// so p99 (the largest of up to 100) is the time until all are ready. Any
// failure fails the case. Floor: as many raw `runsc run` + `runsc exec`
// started at once. BENCH_BURST_ROUNDS (default 3) rounds of both, in turn:
// the floor alone moves 10-17 s between runs on the reference machine, so
// the figure is the median round's ratio (each round's is in the notes).
import { cpus } from "node:os";
import { join } from "node:path";
import {
  type CaseContext,
  type CaseOutput,
  benchBootCpu,
  benchBootCpuGraceMs,
  deleteBoxes,
  envInt,
  nodeRunscRoot,
  progress,
  RawFloor,
  runscIds,
  sleep,
  stats,
} from "./common.ts";
import { phaseBuckets, phaseMeans, phaseQuantiles, phaseText } from "./phases.ts";

interface Round {
  boxyard: number[];
  floor: number[];
  phases: string;
}

const allReady = (samples: number[]) => Math.max(...samples);
const ratioOf = (r: Round) => allReady(r.boxyard) / allReady(r.floor);

export async function burst(ctx: CaseContext): Promise<CaseOutput> {
  // The 50 where the node has the cores for it. An idle systrap sandbox takes about 4.5% of a core
  // (measured with top on the reference machine), so 50 idle boxes alone take 2.25 cores: more than a 2-core
  // node has, and then nothing else runs. Ten per core: 20 on 2 cores, 50 from 5.
  const n = envInt("BENCH_BURST", Math.min(50, 10 * cpus().length));
  const names = Array.from({ length: n }, (_, i) => `burst${String(i).padStart(3, "0")}`);
  // The smallest box (a quarter CPU; the bench's server overcommits CPU 16x, so 64 fit 2 cores). The floor's
  // sandboxes get the same limits (and the busybox template's 256 MiB), with the boot CPU the boxes get
  // while runsc starts them and for the grace after (BOXYARD_BOOT_CPU, BOXYARD_BOOT_CPU_GRACE): their
  // cgroups are the boxes' at every moment.
  const cpu = 0.25;
  const raw = new RawFloor(
    join(ctx.work, "raw-burst"),
    ctx.rootfs,
    { cpu, memoryMiB: 256 },
    { bootCpu: benchBootCpu(), bootCpuGraceMs: benchBootCpuGraceMs() },
  );
  const rounds = Math.max(1, envInt("BENCH_BURST_ROUNDS", 3));
  const done: Round[] = [];
  for (let round = 1; round <= rounds; round++) {
    progress(`burst round ${round}/${rounds}`);
    done.push(await burstRound(ctx, names, raw, cpu, round));
  }
  const left = await raw.census();
  if (left.length) throw new Error(`burst left: ${left.join("; ")}`);
  const median = [...done].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor((done.length - 1) / 2)]!;
  const all = allReady(median.boxyard);
  const allFloor = allReady(median.floor);
  const each = done
    .map(
      (r) =>
        `${(allReady(r.boxyard) / 1000).toFixed(1)} vs ${(allReady(r.floor) / 1000).toFixed(1)} s (${ratioOf(r).toFixed(2)}x)`,
    )
    .join(", ");
  const perRound: Record<string, number> = {};
  for (const [i, r] of done.entries()) {
    perRound[`round${i + 1}AllReadyMs`] = allReady(r.boxyard);
    perRound[`round${i + 1}FloorAllReadyMs`] = allReady(r.floor);
  }
  return {
    results: {
      burst: {
        boxyard: stats(median.boxyard),
        floor: stats(median.floor),
        // The figure: time until all are ready, against the floor's (the median round).
        ratio: all / allFloor,
        unit: "ms",
        extra: {
          boxes: n,
          cpu,
          failures: 0,
          rounds,
          allReadyMs: all,
          floorAllReadyMs: allFloor,
          ...perRound,
        },
      },
    },
    notes: [
      `burst: ${n} creates at once (BENCH_BURST), ${cpu} CPU each (the floor too), 0 failures; ${rounds} rounds (BENCH_BURST_ROUNDS), all-ready vs the floor's: ${each}; shown: the median round (ratio = all-ready time, p99 = last box)`,
      median.phases,
    ],
  };
}

/** One round: the creates until every box's first exec, the deletes; then the floor's sandboxes, then theirs gone. */
async function burstRound(
  ctx: CaseContext,
  names: string[],
  raw: RawFloor,
  cpu: number,
  round: number,
): Promise<Round> {
  const { api } = ctx;
  const n = names.length;
  let boxyard: number[] = [];
  let floor: number[] = [];
  let phases = "";
  try {
    const metricsBefore = await phaseText(api.url);
    progress(`burst: ${n} creates at once`);
    const t0 = performance.now();
    // Each box's first command is sent with its create (waitSeconds), as a client that wants a command
    // run in a new box does: the node runs it the moment the box is up. (Until the fourteenth session a
    // watcher per box followed its event stream and read the box at each event, then sent the exec:
    // about six more requests per box, whose CPU the creates then waited for.)
    const created = await Promise.all(
      names.map((name) =>
        api.call("POST", "/api/v1/orgs/bench/boxes", {
          name,
          template: "busybox",
          resources: { cpu },
        }),
      ),
    );
    for (const [i, r] of created.entries())
      if (r.status !== 202) throw new Error(`create ${names[i]}: ${r.status} ${JSON.stringify(r.body)}`);
    const ready = names.map(async (name) => {
      const out = await api.exec(name, { waitSeconds: 300 });
      if (out !== "ready\n") throw new Error(`${name}: exec output ${JSON.stringify(out)}`);
      return performance.now() - t0;
    });
    // Awaited together below; until then a failure must not end the process (and skip the clean-up).
    for (const p of ready) p.catch(() => {});
    boxyard = await Promise.all(ready);
    // The server's split of the burst's creates (init ends after the first exec began: it overlaps it).
    const metricsAfter = await phaseText(api.url);
    const fmt = (p: Array<[string, number, number]>) =>
      p.map(([ph, ms]) => `${ph} ${ms.toFixed(0)}`).join(", ");
    const [b0, b1] = [phaseBuckets(metricsBefore), phaseBuckets(metricsAfter)];
    phases = `burst phases (server metrics, ms; n=${n}): p50 ${fmt(phaseQuantiles(b0, b1, 0.5))}; p90 ${fmt(phaseQuantiles(b0, b1, 0.9))}; mean ${fmt(phaseMeans(metricsBefore, metricsAfter))}`;
    progress(phases);
    progress(`burst: all ${n} ready in ${Math.max(...boxyard).toFixed(0)} ms; deleting`);
    await deleteBoxes(api, names);
    // The floor starts on a node without them (idle sandboxes still take CPU).
    const ids = created.map((r) => r.body.box.id as string);
    for (const until = Date.now() + 300_000; ; await sleep(500)) {
      const left = (await runscIds(nodeRunscRoot(ctx.dataDir))).filter((id) => ids.includes(id));
      if (!left.length) break;
      if (Date.now() > until) throw new Error(`burst: ${left.length} sandboxes left 300 s after the deletes`);
    }

    progress(`burst floor: ${n} raw sandboxes at once`);
    const f0 = performance.now();
    floor = await Promise.all(
      names.map(async (_, i) => {
        const id = `r${round}${String(i).padStart(4, "0")}`;
        await raw.start(id);
        if ((await raw.exec(id)) !== "ready\n") throw new Error(`raw ${id}: exec output`);
        return performance.now() - f0;
      }),
    );
  } finally {
    await deleteBoxes(api, names);
    // The next round's boxes start on a node without these (idle sandboxes still take CPU).
    await raw.destroyAll();
  }
  return { boxyard, floor, phases };
}
