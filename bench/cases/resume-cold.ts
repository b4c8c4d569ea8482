// resume-cold: a box paused cold (checkpointed to disk, its sandbox gone) is
// resumed through the API until a command's output comes back from `exec`
// (sent right after the resume's answer, waiting for the box to run).
// Floor: `runsc checkpoint` of a raw sandbox of the same rootfs and the
// box's CPU and memory limits, then `runsc restore --detach` + `runsc exec`,
// sampled in turn with it. The floor's cgroup is the box's at every moment:
// the boot CPU during the restore, the limit after (benchBootCpu()). A second
// floor restores under the limit throughout (as the driver did before the
// boot CPU), shown beside it.
import { join } from "node:path";
import pg from "pg";
import {
  type CaseContext,
  type CaseOutput,
  deleteBoxes,
  envInt,
  nodeRunscRoot,
  progress,
  benchBootCpu,
  benchBootCpuGraceMs,
  RawFloor,
  runscIds,
  sleep,
  stats,
  timed,
} from "./common.ts";

export async function resumeCold(ctx: CaseContext): Promise<CaseOutput> {
  const n = envInt("BENCH_COLD_N", 10);
  const { api } = ctx;
  // The box's resources (the busybox template's memory, a quarter CPU), for the floor too.
  // The floor is made like the box in everything runsc sees (RawFloorOptions):
  // a writable host overlay root over the same layer and a netns with a veth.
  const raw = new RawFloor(
    join(ctx.work, "raw-cold"),
    ctx.rootfs,
    { cpu: 0.25, memoryMiB: 256 },
    {
      overlayRoot: true,
      sandboxNetwork: true,
      bootCpu: benchBootCpu(),
      bootCpuGraceMs: benchBootCpuGraceMs(),
    },
  );
  // Its sandbox is "cl": a raw sandbox's cgroup is /ID, which must not be the other floor's.
  const limited = new RawFloor(
    join(ctx.work, "raw-cold-limited"),
    ctx.rootfs,
    { cpu: 0.25, memoryMiB: 256 },
    { overlayRoot: true, sandboxNetwork: true },
  );
  const box = "cold";
  const db = new pg.Client({ connectionString: ctx.dbUrl });
  await db.connect();
  const boxyard: number[] = [];
  const floor: number[] = [];
  const floorLimited: number[] = [];
  try {
    const r = await api.call("POST", "/api/v1/orgs/bench/boxes", {
      name: box,
      template: "busybox",
      resources: { cpu: 0.25 },
    });
    if (r.status !== 202) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
    const id = r.body.box.id as string;
    await api.until(box, "running");
    await api.exec(box);
    await raw.start("ck");
    await raw.exec("ck");
    await limited.start("cl");
    await limited.exec("cl");
    const image = join(raw.dir, "image");
    const imageLimited = join(limited.dir, "image");
    for (let i = 0; i < n; i++) {
      progress(`resume-cold ${i + 1}/${n}`);
      const p = await api.call("POST", `/api/v1/orgs/bench/boxes/${box}/pause`, { mode: "cold" });
      if (p.status !== 202) throw new Error(`pause cold: ${p.status} ${JSON.stringify(p.body)}`);
      await api.until(box, "paused");
      // Cold means the sandbox is gone: only its checkpoint on disk is left. And the cold pause is
      // over (as the floor's `runsc checkpoint` has returned): the node has reported the box
      // checkpointed, so the resume does not race the pause's last steps and report.
      for (
        const deadline = Date.now() + 30_000;
        (await runscIds(nodeRunscRoot(ctx.dataDir))).includes(id) ||
        (await db.query("SELECT agent_phase FROM boxes WHERE id = $1", [id])).rows[0]?.agent_phase !==
          "checkpointed";
      ) {
        if (Date.now() > deadline) throw new Error("the cold-paused box still has a sandbox");
        await sleep(20);
      }
      // As a client that wants a command run in the box does it: the resume, then at once an exec
      // that waits for the box to run (waitSeconds; `boxyard exec --wait`), not a round trip per state.
      const [ms] = await timed(async () => {
        const q = await api.call("POST", `/api/v1/orgs/bench/boxes/${box}/resume`);
        if (q.status !== 202) throw new Error(`resume: ${q.status} ${JSON.stringify(q.body)}`);
        if ((await api.exec(box, { waitSeconds: 60 })) !== "ready\n") throw new Error("exec output");
      });
      boxyard.push(ms);

      await raw.checkpoint("ck", image);
      const [f] = await timed(async () => {
        await raw.start("ck", image);
        if ((await raw.exec("ck")) !== "ready\n") throw new Error("raw exec output");
      });
      floor.push(f);

      await limited.checkpoint("cl", imageLimited);
      const [fl] = await timed(async () => {
        await limited.start("cl", imageLimited);
        if ((await limited.exec("cl")) !== "ready\n") throw new Error("raw exec output");
      });
      floorLimited.push(fl);
    }
    if (process.env.BENCH_EXEC_PROBE) {
      // BENCH_EXEC_PROBE=1: after the cycles, times 6 rounds of `runsc exec` variants into the box's
      // sandbox and the floor's, to find what makes the box's exec slower (see README.md); on stderr.
      const { execFile } = await import("node:child_process");
      const { execCapabilities } = await import("../../internal/runtime/src/gvisor/capabilities.ts");
      const g = (root: string) => [
        `--root=${root}`,
        "--platform=systrap",
        "--network=sandbox",
        "--net-disconnect-ok",
        "--overlay2=none",
      ];
      const br = nodeRunscRoot(ctx.dataDir);
      const env = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/home/dev",
        "USER=dev",
        "LOGNAME=dev",
      ].map((e) => `--env=${e}`);
      const user = ["--user=1000:1000", "--cwd=/home/dev"];
      const caps = execCapabilities.map((c) => `--cap=${c}`);
      const variants: Array<[string, string[]]> = [
        ["floor /bin/echo", [...g(raw.root), "exec", "ck", "/bin/echo", "ready"]],
        ["box root /bin/echo", [...g(br), "exec", id, "/bin/echo", "ready"]],
        ["box user /bin/echo", [...g(br), "exec", ...user, id, "/bin/echo", "ready"]],
        [
          "box user caps env /bin/echo",
          [...g(br), "exec", ...user, ...caps, ...env, id, "/bin/echo", "ready"],
        ],
        ["box user caps env echo", [...g(br), "exec", ...user, ...caps, ...env, id, "echo", "ready"]],
        [
          "box boxinit /bin/echo",
          [
            ...g(br),
            "exec",
            ...user,
            ...caps,
            ...env,
            id,
            "/.boxyard/init",
            "exec",
            "--",
            "/bin/echo",
            "ready",
          ],
        ],
        [
          "box boxinit echo",
          [...g(br), "exec", ...user, ...caps, ...env, id, "/.boxyard/init", "exec", "--", "echo", "ready"],
        ],
        [
          "box root boxinit /bin/echo",
          [...g(br), "exec", id, "/.boxyard/init", "exec", "--", "/bin/echo", "ready"],
        ],
      ];
      const times = new Map<string, number[]>();
      for (let k = 0; k < 6; k++)
        for (const [name, args] of variants) {
          const t = performance.now();
          const out = await new Promise<string>((res, rej) =>
            execFile("runsc", args, (e, so) => (e ? rej(e) : res(so))),
          );
          if (out !== "ready\n") throw new Error(`${name}: ${out}`);
          times.set(name, [...(times.get(name) ?? []), performance.now() - t]);
        }
      for (const [name, t] of times)
        process.stderr.write(
          `PROBE ${name}: ${t.map((x) => x.toFixed(0)).join(" ")} median ${[...t].sort((a, b) => a - b)[3]?.toFixed(0)}\n`,
        );
    }
  } finally {
    await db.end();
    await deleteBoxes(api, [box]);
    await raw.destroyAll();
    await limited.destroyAll();
  }
  const left = [...(await raw.census()), ...(await limited.census())];
  if (left.length) throw new Error(`resume-cold left: ${left.join("; ")}`);
  const lim = stats(floorLimited);
  return {
    results: {
      "resume-cold": {
        boxyard: stats(boxyard),
        floor: stats(floor),
        ratio: 0,
        unit: "ms",
        extra: {
          bootCpu: benchBootCpu(),
          floorUnderLimitP50: lim.p50,
          ratioUnderLimit: stats(boxyard).p50 / lim.p50,
        },
      },
    },
    notes: [
      `resume-cold: ${n} pause-cold/resume cycles (BENCH_COLD_N); floor = runsc checkpoint, then timed restore + exec, with ${benchBootCpu()} CPUs during the restore and ${benchBootCpuGraceMs() / 1000} s after, as the box gets (BOXYARD_BOOT_CPU, BOXYARD_BOOT_CPU_GRACE); a floor under the box's 0.25 CPU throughout: p50 ${lim.p50.toFixed(1)} ms (ratio ${(stats(boxyard).p50 / lim.p50).toFixed(2)}x)`,
    ],
  };
}
