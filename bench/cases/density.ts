// density-N: memory per idle busybox box at N boxes (BENCH_DENSITY, a comma
// list, default 20,50,100 from 10 cores, else 10,20 (idle systrap sandboxes take CPU: see burst.ts); boxes are added up to each level, 0.25 CPU and 128 MiB each). Per box: the RSS of
// its sandbox's host processes (sentry, gofer, systrap stubs) plus Boxyard's
// per-box overhead (the server process tree's RSS growth since before the
// first box, divided by N). Floor: N raw sandboxes of the same rootfs, each
// its runsc processes' RSS. PSS (shared pages split between processes) is
// in latest.json too, since RSS counts the runsc binary in every process,
// and so is the CPU an idle box takes (systrap sandboxes are not free when
// idle). Boxyard's boxes are measured first and deleted, then the raw ones.
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import {
  type CaseContext,
  type CaseOutput,
  type CaseResult,
  deleteBoxes,
  memoryOf,
  nodeRunscRoot,
  progress,
  RawFloor,
  runscIds,
  sandboxPids,
  sleep,
  stats,
  treePids,
  waitRunning,
} from "./common.ts";

const IDLE_MS = 5_000;

interface Mem {
  rss: number;
  pss: number;
}

/** Percent of one core the processes used over IDLE_MS (utime + stime, clock ticks of 10 ms). */
async function idleCpu(pids: number[]): Promise<number> {
  const ticks = async () => {
    let t = 0;
    for (const pid of pids) {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      t += Number(f[11] ?? 0) + Number(f[12] ?? 0);
    }
    return t;
  };
  const a = await ticks();
  await sleep(IDLE_MS);
  return ((await ticks()) - a) / (IDLE_MS / 1000);
}

export async function density(ctx: CaseContext): Promise<CaseOutput> {
  const levels = (process.env.BENCH_DENSITY ?? (cpus().length >= 10 ? "20,50,100" : "10,20"))
    .split(",")
    .map((x) => Number(x.trim()))
    .sort((a, b) => a - b);
  if (levels.some((x) => !Number.isInteger(x) || x < 1)) throw new Error("BENCH_DENSITY: positive integers");
  const { api } = ctx;
  const root = nodeRunscRoot(ctx.dataDir);
  const raw = new RawFloor(join(ctx.work, "raw-density"), ctx.rootfs);
  const boxes: Array<{ name: string; id: string }> = [];
  const results: Record<string, CaseResult> = {};
  const notes: string[] = [];
  // Boxyard's boxes first, then the raw sandboxes: idle systrap sandboxes
  // still take CPU, so both at once would crowd this 2-core machine.
  const measured = new Map<number, { box: Mem[]; server: Mem; boxCpu: number; raw: Mem[]; rawCpu: number }>();
  try {
    const server0 = await memoryOf(await treePids(ctx.serverPid));
    for (const level of levels) {
      progress(`density: ${level} idle boxes`);
      while (boxes.length < level) {
        const name = `dense${boxes.length}`;
        const r = await api.call("POST", "/api/v1/orgs/bench/boxes", {
          name,
          template: "busybox",
          // The smallest box: 100 of them fit this 24 GiB node's memory (which is not overcommitted).
          resources: { cpu: 0.25, memoryMiB: 128 },
        });
        if (r.status !== 202) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
        boxes.push({ name, id: r.body.box.id });
        await waitRunning(api, name);
        await api.exec(name);
      }
      const pids = await Promise.all(boxes.map((b) => sandboxPids(root, (a) => a.includes(`/${b.id}/`))));
      const boxCpu = await idleCpu(pids.flat());
      const server = await memoryOf(await treePids(ctx.serverPid));
      measured.set(level, {
        box: await Promise.all(pids.map((p) => memoryOf(p))),
        server: { rss: (server.rss - server0.rss) / level, pss: (server.pss - server0.pss) / level },
        boxCpu: boxCpu / level,
        raw: [],
        rawCpu: 0,
      });
    }
    await deleteBoxes(
      api,
      boxes.map((b) => b.name),
    );
    for (const until = Date.now() + 300_000; ; await sleep(500)) {
      const ids = await runscIds(root);
      if (!boxes.some((b) => ids.includes(b.id))) break;
      if (Date.now() > until) throw new Error("density: box sandboxes left 300 s after the deletes");
    }
    for (const level of levels) {
      progress(`density: ${level} idle raw sandboxes`);
      while (raw.ids.size < level) {
        const id = `d${String(raw.ids.size).padStart(4, "0")}`;
        await raw.start(id);
        await raw.exec(id);
      }
      const pids = await Promise.all([...raw.ids].map((id) => raw.pids(id)));
      const m = measured.get(level)!;
      m.rawCpu = (await idleCpu(pids.flat())) / level;
      m.raw = await Promise.all(pids.map((p) => memoryOf(p)));
    }
  } finally {
    await deleteBoxes(
      api,
      boxes.map((b) => b.name),
    );
    await raw.destroyAll();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const [level, m] of measured) {
    if (m.box.some((x) => x.rss === 0) || m.raw.some((x) => x.rss === 0))
      throw new Error("density: a sandbox's processes were not found");
    const bRss = m.box.map((x) => x.rss + m.server.rss);
    const fRss = m.raw.map((x) => x.rss);
    const sandboxRss = mean(m.box.map((x) => x.rss));
    const bPss = mean(m.box.map((x) => x.pss)) + m.server.pss;
    const fPss = mean(m.raw.map((x) => x.pss));
    const overRss = mean(bRss) - mean(fRss);
    results[`density-${level}`] = {
      boxyard: stats(bRss),
      floor: stats(fRss),
      ratio: 0,
      unit: "MiB",
      extra: {
        boxes: level,
        mibPerBoxOverRawRss: overRss,
        mibPerBoxOverRawPss: bPss - fPss,
        sandboxRssMean: sandboxRss,
        serverRssPerBox: m.server.rss,
        boxPssMean: bPss,
        floorPssMean: fPss,
        idleCpuPercentPerBox: m.boxCpu,
        floorIdleCpuPercentPerBox: m.rawCpu,
      },
    };
    notes.push(
      `density-${level}: ${mean(bRss).toFixed(1)} MiB RSS per idle box (sandbox ${sandboxRss.toFixed(1)} + server ${m.server.rss.toFixed(1)}) vs ${mean(fRss).toFixed(1)} raw: ${overRss.toFixed(1)} MiB over raw; PSS ${bPss.toFixed(1)} vs ${fPss.toFixed(1)} (${(bPss - fPss).toFixed(1)} over); idle CPU ${m.boxCpu.toFixed(1)}% vs ${m.rawCpu.toFixed(1)}% of a core per box`,
    );
  }
  const left = await raw.census();
  for (const b of boxes)
    if ((await sandboxPids(root, (a) => a.includes(`/${b.id}/`))).length) left.push(`box ${b.id} processes`);
  if (left.length) throw new Error(`density left: ${left.join("; ")}`);
  return { results, notes };
}
