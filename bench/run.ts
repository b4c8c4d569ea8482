// `make bench`: Boxyard against its own raw floor, measured in the same run on
// the same machine (these machines are noisy; ratios travel, absolute numbers
// do not). See bench/README.md for how to read the output.
//
//   create-to-ready  API POST .../boxes -> first `exec` output, busybox box
//                    floor: `runsc run --detach` + `runsc exec` of the same rootfs
//   create-to-ready (warm pool)
//                    the same with a warm pool of the template: the create
//                    claims a running box; same floor, sampled in turn with it
//   create-debian    the same from a Debian template with a private repository
//                    (prebuilt), until `exec git -C /workspace rev-parse HEAD`
//                    answers its commit; floor: `runsc run` + `runsc exec` of the
//                    same command on the same layers (bench/cases/create-debian.ts)
//   create-debian-pool
//                    the same claiming a box from a warm pool of 2; same floor
//   resume-hot       API resume of a hot-paused box -> first `exec` output
//                    floor: `runsc pause`/`runsc resume` + `runsc exec` on a raw sandbox
//   resume-hot-state the same resume until the API shows the box running (the
//                    issue's "hot resume" figure; watched on the box's event
//                    stream); floor: `runsc resume` alone
//   api-list/get     GET box list (100 per page) and one box with 10k boxes in the DB
//                    floor: the same SQL, run directly
//   resume-cold, burst, api-list-load/api-get-load, density-N
//                    in bench/cases/ (one file each; floors and variables in
//                    bench/README.md)
//
// BENCH_N sets the samples per benchmark (default 30, the issue's "at least 30 boxes"); BENCH_ONLY (comma list
// of names, e.g. create-to-ready,create-pool) runs only those.

import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildBusyboxLayer, LayerStore } from "@boxyard/images";
import { NodeNetwork } from "@boxyard/netns";
import pg from "pg";
import { ensureBuilt, REPO_ROOT, startServerProcess } from "../apps/server/src/testing/server-process.ts";
import { progress, RawFloor, type Stats, stats, timed } from "./cases/common.ts";
import { type DebianUpstream, startDebianUpstream } from "./cases/create-debian.ts";
import { runExtraCases } from "./cases/index.ts";

const run = promisify(execFile);
const N = Number(process.env.BENCH_N ?? 30);
const ONLY = process.env.BENCH_ONLY?.split(",").map((x) => x.trim());
const wanted = (name: string) => !ONLY || ONLY.includes(name);
const POOL_SIZE = 2;
const SPLIT = process.env.BENCH_SPLIT === "1";
const LAYERS = process.env.BOXYARD_IMAGE_CACHE ?? "/var/cache/boxyard/images";
// Each run has its own node network (bridge, netns, nft tables) so that two runs on one machine never share one.
const RUN_ID = Math.random().toString(36).slice(2, 6).padEnd(4, "0");
const PREFIX = `bn${RUN_ID}`;
const SUBNET = `10.230.${Math.floor(Math.random() * 256)}.0/24`;

// ---- Boxyard through its API ------------------------------------------------

class Api {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  // biome-ignore lint/suspicious/noExplicitAny: API answers are walked loosely here.
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(this.url + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async until(box: string, state: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = (await this.call("GET", `/api/v1/orgs/bench/boxes/${box}`)).body;
      if (
        state === "deleted"
          ? b?.code === "box_not_found"
          : b?.actualState === state && b.observedGeneration === b.generation
      )
        return;
      if (b?.actualState === "failed") throw new Error(`${box} failed: ${JSON.stringify(b.lastError)}`);
      if (Date.now() > deadline) throw new Error(`${box} did not become ${state}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Opens the box's event stream (SSE) and resolves, once it is open, with
   * `reached`: the next transition to `state`, the moment the API publishes
   * it, with no polling interval added to it.
   */
  async nextTransition(box: string, state: string): Promise<{ reached: Promise<void> }> {
    const events = await this.events(box);
    if ((await events.next()).event !== "state") throw new Error(`events ${box}: no current state first`);
    const reached = (async () => {
      try {
        for (;;) {
          const e = await events.next();
          if (e.event === "transition" && JSON.parse(e.data).to === state) return;
        }
      } finally {
        events.close();
      }
    })();
    return { reached };
  }

  /** A box's event stream: events are blocks of "event:" and "data:" lines separated by a blank line. */
  private async events(
    box: string,
  ): Promise<{ next(): Promise<{ event: string; data: string }>; close(): void }> {
    const abort = new AbortController();
    const res = await fetch(`${this.url}/api/v1/orgs/bench/boxes/${box}/events`, {
      headers: { authorization: `Bearer ${this.token}`, accept: "text/event-stream" },
      signal: abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`events ${box}: ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const next = async (): Promise<{ event: string; data: string }> => {
      for (;;) {
        const end = buffered.indexOf("\n\n");
        if (end >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const field = (name: string) =>
            block
              .split("\n")
              .filter((l) => l.startsWith(`${name}:`))
              .map((l) => l.slice(name.length + 1).trim())
              .join("\n");
          if (field("event")) return { event: field("event"), data: field("data") };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`events ${box}: the stream ended`);
        buffered += value;
      }
    };
    return {
      next,
      close: () => abort.abort(),
    };
  }

  /** Sum and count of a Prometheus histogram's series whose labels include `labels`. */
  async histogram(name: string, labels: string): Promise<{ sum: number; count: number }> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const total = (suffix: string) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(`${name}_${suffix}{`) && l.includes(labels))
        .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    return { sum: total("sum"), count: total("count") };
  }

  async exec(box: string, opts: { waitSeconds?: number } = {}): Promise<string> {
    const r = await this.call("POST", `/api/v1/orgs/bench/boxes/${box}/exec`, {
      command: ["echo", "ready"],
      ...opts,
    });
    if (r.status !== 200) throw new Error(`exec ${box}: ${r.status} ${JSON.stringify(r.body)}`);
    // A failed exec says why (its exit code and stderr), not just that its output differs.
    if (r.body.exitCode !== 0)
      throw new Error(`exec ${box}: exit ${r.body.exitCode}: ${JSON.stringify(r.body.stderr)}`);
    return r.body.stdout;
  }
}

async function main(): Promise<void> {
  const started = new Date();
  await ensureBuilt();
  const work = await mkdtemp(join(tmpdir(), "boxyard-bench-"));
  // PostgreSQL runs as the boxyard system user, which must reach its directory.
  await chmod(work, 0o711);
  const pgDir = join(work, "pg");
  progress("starting PostgreSQL");
  const pgUrl = (
    await run(
      "npx",
      ["--no-install", "tsx", "internal/postgres/src/external-cli.ts", "start", "--dir", pgDir],
      {
        cwd: REPO_ROOT,
      },
    )
  ).stdout.trim();
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query("CREATE DATABASE boxyard_bench");
  await admin.end();
  const dbUrl = pgUrl.replace(/\/[^/?]+(\?|$)/, "/boxyard_bench$1");

  const results: Record<string, { boxyard: Stats; floor: Stats; ratio: number; unit: string }> = {};
  let server: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  /** With BENCH_SPLIT=1, the control plane; `server` is then the node agent's process. */
  let control: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  let api: Api | undefined;
  const notes: string[] = [];
  const store = new LayerStore({ root: LAYERS });
  const raw = new RawFloor(join(work, "raw"), store.pathOf(await buildBusyboxLayer(store)));
  let upstream: DebianUpstream | undefined;
  try {
    // create-debian's git server: its veth is the node's box uplink, so it must exist before the server starts.
    if (wanted("create-debian") || wanted("create-debian-pool")) {
      progress("starting the git server for create-debian");
      upstream = await startDebianUpstream();
    }
    const serverEnv = {
      BOXYARD_NETWORK_PREFIX: PREFIX,
      BOXYARD_BOX_SUBNET: SUBNET,
      BOXYARD_LAYER_DIR: LAYERS,
      BOXYARD_RATE_LIMIT: "0",
      BOXYARD_COLD_PAUSE_AFTER: "0",
      // burst and density pack 50-100 quarter-CPU boxes onto one 2-core node (the default 4x fits 32).
      BOXYARD_CPU_OVERCOMMIT: "16",
      ...(upstream ? { BOXYARD_BOX_UPLINK: upstream.uplink } : {}),
    };
    // BENCH_SERVER_LOG=FILE: the server logs at info level, written to FILE at the end (for tracing a case).
    const logArgs = process.env.BENCH_SERVER_LOG ? ["--log-level", "info"] : [];
    let token: string;
    if (SPLIT) {
      // BENCH_SPLIT=1: the control plane and the node agent as separate processes, talking over HTTP
      // (`--role control` + `--role agent`), as a fleet runs them. The agent's data dir is the one the
      // cases look in (work/data); the control plane's is work/control.
      progress("starting the control plane and, as its own process, the node agent (gVisor runtime)");
      control = await startServerProcess({
        dataDir: join(work, "control"),
        args: ["--role", "control", "--database-url", dbUrl, ...logArgs],
        env: serverEnv,
      });
      token = (await readFile(join(work, "control", "admin-token"), "utf8")).trim();
      server = await startServerProcess({
        dataDir: join(work, "data"),
        args: ["--role", "agent", "--control-url", control.url, ...logArgs],
        env: { ...serverEnv, BOXYARD_CONTROL_TOKEN: token, BOXYARD_NODE_NAME: "bench-node" },
      });
    } else {
      progress("starting the server (gVisor runtime)");
      server = await startServerProcess({
        dataDir: join(work, "data"),
        args: ["--database-url", dbUrl, ...logArgs],
        env: serverEnv,
      });
      token = (await readFile(join(work, "data", "admin-token"), "utf8")).trim();
    }
    const a = new Api((control ?? server).url, token);
    api = a;
    await a.call("POST", "/api/v1/orgs", { name: "bench" });

    progress("warming up (image cache, first sandbox)");
    await a.call("POST", "/api/v1/orgs/bench/boxes", { name: "warm", template: "busybox" });
    await a.until("warm", "running");
    await a.exec("warm");
    await raw.start("warm");
    await raw.exec("warm");
    await raw.destroy("warm");

    // create-to-ready
    const boxyard: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < (wanted("create-to-ready") ? N : 0); i++) {
      progress(`create-to-ready ${i + 1}/${N}`);
      const [ms] = await timed(async () => {
        const r = await a.call("POST", "/api/v1/orgs/bench/boxes", { name: `b${i}`, template: "busybox" });
        if (r.status !== 202) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
        // The first command goes with the create (waitSeconds): the node runs it the moment the box is up.
        if ((await a.exec(`b${i}`, { waitSeconds: 60 })) !== "ready\n") throw new Error("exec output");
      });
      boxyard.push(ms);
      await a.call("DELETE", `/api/v1/orgs/bench/boxes/b${i}`);
      await a.until(`b${i}`, "deleted");
      const [f] = await timed(async () => {
        await raw.start(`f${i}`);
        if ((await raw.exec(`f${i}`)) !== "ready\n") throw new Error("raw exec output");
      });
      floor.push(f);
      await raw.destroy(`f${i}`);
    }
    if (wanted("create-to-ready"))
      results["create-to-ready"] = { boxyard: stats(boxyard), floor: stats(floor), ratio: 0, unit: "ms" };

    // create-to-ready with a warm pool: each create claims a running box.
    if (wanted("create-pool")) {
      const pooled: number[] = [];
      const pooledFloor: number[] = [];
      const poolPath = "/api/v1/orgs/bench/templates/busybox/pool";
      const poolSettled = async (ready: number) => {
        const deadline = Date.now() + 180_000;
        for (;;) {
          const p = (await a.call("GET", poolPath)).body;
          if (p.ready === ready && p.starting === 0 && p.draining === 0) return;
          if (Date.now() > deadline)
            throw new Error(`the pool did not settle at ${ready}: ${JSON.stringify(p)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await a.call("PUT", poolPath, { size: POOL_SIZE });
      for (let i = 0; i < N; i++) {
        progress(`create-to-ready (warm pool) ${i + 1}/${N}`);
        // Measured from a full pool: the refill after the previous claim is done.
        await poolSettled(POOL_SIZE);
        const [ms, claimed] = await timed(async () => {
          const r = await a.call("POST", "/api/v1/orgs/bench/boxes", { name: `p${i}`, template: "busybox" });
          if (r.status !== 202) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
          if ((await a.exec(`p${i}`, { waitSeconds: 60 })) !== "ready\n") throw new Error("exec output");
          return r.body.operation.status === "succeeded";
        });
        if (!claimed) throw new Error(`p${i} was not claimed from the pool`);
        pooled.push(ms);
        await a.call("DELETE", `/api/v1/orgs/bench/boxes/p${i}`);
        await a.until(`p${i}`, "deleted");
        const [f] = await timed(async () => {
          await raw.start(`g${i}`);
          if ((await raw.exec(`g${i}`)) !== "ready\n") throw new Error("raw exec output");
        });
        pooledFloor.push(f);
        await raw.destroy(`g${i}`);
      }
      await a.call("PUT", poolPath, { size: 0 });
      await poolSettled(0);
      results["create-pool"] = { boxyard: stats(pooled), floor: stats(pooledFloor), ratio: 0, unit: "ms" };
    }

    // resume from a hot pause
    // Each cycle times both: resume until the API says running (its event
    // stream), and until the first exec answers. The server's metrics split
    // the first: the runtime's resume, and the time the box spends resuming
    // (from the API's commit, which publishes the change to the node: the
    // agent's wake-up, the runtime, the report and its settle).
    const hot: number[] = [];
    const hotFloor: number[] = [];
    const hotState: number[] = [];
    const hotStateFloor: number[] = [];
    const phases = async () => ({
      runtime: await a.histogram("boxyard_runtime_operation_seconds", 'operation="resume",result="ok"'),
      resuming: await a.histogram("boxyard_box_transient_state_seconds", 'state="resuming"'),
    });
    const phasesBefore = wanted("resume-hot") ? await phases() : undefined;
    if (wanted("resume-hot")) await raw.start("rf");
    for (let i = 0; i < (wanted("resume-hot") ? N : 0); i++) {
      progress(`resume-hot ${i + 1}/${N}`);
      await a.call("POST", "/api/v1/orgs/bench/boxes/warm/pause", { mode: "hot" });
      await a.until("warm", "paused");
      const running = await a.nextTransition("warm", "running");
      const t0 = performance.now();
      await a.call("POST", "/api/v1/orgs/bench/boxes/warm/resume");
      await running.reached;
      hotState.push(performance.now() - t0);
      await a.exec("warm");
      hot.push(performance.now() - t0);
      await raw.pause("rf");
      const f0 = performance.now();
      await raw.resume("rf");
      hotStateFloor.push(performance.now() - f0);
      await raw.exec("rf");
      hotFloor.push(performance.now() - f0);
    }
    await raw.destroy("rf");
    if (phasesBefore) {
      const after = await phases();
      const mean = (k: "runtime" | "resuming") =>
        ((after[k].sum - phasesBefore[k].sum) / Math.max(1, after[k].count - phasesBefore[k].count)) * 1000;
      notes.push(
        `resume-hot-state split (server metrics, means): runtime resume ${mean("runtime").toFixed(1)} ms; box in "resuming" ${mean("resuming").toFixed(1)} ms (API commit -> agent -> runtime -> report -> settle); the rest is the API call up to its commit and the event stream's delivery`,
      );
    }
    if (wanted("resume-hot")) {
      results["resume-hot"] = { boxyard: stats(hot), floor: stats(hotFloor), ratio: 0, unit: "ms" };
      results["resume-hot-state"] = {
        boxyard: stats(hotState),
        floor: stats(hotStateFloor),
        ratio: 0,
        unit: "ms",
      };
    }

    // API with 10k boxes
    if (wanted("api-list") || wanted("api-get")) {
      progress("api: inserting 10,000 boxes");
      const db = new pg.Client({ connectionString: dbUrl });
      await db.connect();
      await db.query(`INSERT INTO orgs (id, name) VALUES ('org_bulk0000000000000000', 'bulk')`);
      await db.query(
        `INSERT INTO org_members (org_id, user_id, role) SELECT 'org_bulk0000000000000000', id, 'owner' FROM users WHERE username = 'admin'`,
      );
      await db.query(
        `INSERT INTO boxes (id, org_id, name, owner_id, template, template_version, image, resources, persistent,
                          desired_state, actual_state)
       SELECT 'box_' || lpad(g::text, 20, '0'), 'org_bulk0000000000000000', 'bulk-' || g,
              (SELECT id FROM users WHERE username = 'admin'), 'busybox', 1, '{"base":"busybox"}',
              '{"cpu":1,"memoryMiB":256,"diskGiB":1,"gpus":0}', false, 'stopped', 'stopped'
         FROM generate_series(1, 10000) g`,
      );
      // As autovacuum would soon: the planner knows the table has 10,000 rows (for both sides).
      await db.query("ANALYZE boxes");
      const apiList: number[] = [];
      const apiGet: number[] = [];
      const sqlList: number[] = [];
      const sqlGet: number[] = [];
      for (let i = 0; i < Math.max(N, 50); i++) {
        apiList.push((await timed(() => a.call("GET", "/api/v1/orgs/bulk/boxes?limit=100")))[0]);
        apiGet.push(
          (await timed(() => a.call("GET", `/api/v1/orgs/bulk/boxes/bulk-${1 + ((i * 97) % 10000)}`)))[0],
        );
        sqlList.push(
          (
            await timed(() =>
              db.query(
                `SELECT b.*, o.name, u.username FROM boxes b JOIN orgs o ON o.id = b.org_id JOIN users u ON u.id = b.owner_id
                WHERE b.org_id = 'org_bulk0000000000000000' AND b.deleted_at IS NULL ORDER BY b.created_at, b.id LIMIT 101`,
              ),
            )
          )[0],
        );
        sqlGet.push(
          (
            await timed(() =>
              db.query(
                `SELECT * FROM boxes WHERE org_id = 'org_bulk0000000000000000' AND name = $1 AND deleted_at IS NULL`,
                [`bulk-${1 + ((i * 97) % 10000)}`],
              ),
            )
          )[0],
        );
      }
      await db.query("DELETE FROM boxes WHERE org_id = 'org_bulk0000000000000000'");
      await db.end();
      results["api-list"] = { boxyard: stats(apiList), floor: stats(sqlList), ratio: 0, unit: "ms" };
      results["api-get"] = { boxyard: stats(apiGet), floor: stats(sqlGet), ratio: 0, unit: "ms" };
    }

    // bench/cases: resume-cold, burst, api-load, density (each with its own floor and cleanup).
    const extra = await runExtraCases(
      {
        api: a,
        work,
        dataDir: join(work, "data"),
        dbUrl,
        rootfs: store.pathOf(await buildBusyboxLayer(store)),
        serverPid: server.child.pid ?? 0,
        layerPath: (digest) => store.pathOf(digest),
        wanted,
        ...(upstream ? { gitUpstream: upstream } : {}),
      },
      wanted,
    );
    Object.assign(results, extra.results);
    notes.push(...extra.notes);
  } finally {
    // Boxes go through the API, so the node releases everything they took.
    if (api) {
      const left =
        (await api.call("GET", "/api/v1/orgs/bench/boxes?limit=200").catch(() => undefined))?.body?.items ??
        [];
      for (const b of left as Array<{ name: string }>)
        await api.call("DELETE", `/api/v1/orgs/bench/boxes/${b.name}`);
      for (const b of left as Array<{ name: string }>)
        await api.until(b.name, "deleted", 60_000).catch(() => {});
    }
    // The node agent first (it releases its boxes' resources), then the control plane.
    for (const p of [server, control]) {
      if (p && p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill("SIGTERM");
        await p.exited;
      }
    }
    if (server && process.env.BENCH_SERVER_LOG)
      await writeFile(
        process.env.BENCH_SERVER_LOG,
        control
          ? `--- control plane ---\n${control.output()}\n--- node agent ---\n${server.output()}`
          : server.output(),
      ).catch(() => {});
    await raw.destroyAll();
    await upstream?.stop().catch((err) => progress(`cannot stop the git server: ${err}`));
    const net = await NodeNetwork.open({ stateDir: join(work, "net"), prefix: PREFIX, subnet: SUBNET }).catch(
      () => undefined,
    );
    await net?.close({ removeBridge: true });
    await run(
      "npx",
      ["--no-install", "tsx", "internal/postgres/src/external-cli.ts", "stop", "--dir", pgDir],
      {
        cwd: REPO_ROOT,
      },
    ).catch(() => {});
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }

  // A case may set its own ratio (burst: all-ready times; api-load: throughputs).
  for (const r of Object.values(results)) r.ratio ||= r.boxyard.p50 / r.floor.p50;
  const f = (n: number) => n.toFixed(1).padStart(8);
  const lines = [
    "",
    `${"benchmark".padEnd(18)}${"p50".padStart(8)}${"p90".padStart(8)}${"p99".padStart(8)}   ${"floor p50".padStart(9)}${"floor p99".padStart(10)}   ratio (p50)`,
  ];
  for (const [name, r] of Object.entries(results))
    lines.push(
      `${(r.unit === "ms" ? name : `${name} (${r.unit})`).padEnd(18)}${f(r.boxyard.p50)}${f(r.boxyard.p90)}${f(r.boxyard.p99)}   ${f(r.floor.p50).padStart(9)}${f(r.floor.p99).padStart(10)}   ${r.ratio.toFixed(2)}x`,
    );
  lines.push(
    "",
    `times in ms, ${N} samples each (BENCH_N); floors measured in the same run`,
    ...(SPLIT ? ["BENCH_SPLIT=1: control plane and node agent as separate processes over HTTP"] : []),
    `create-pool: create-to-ready with a warm pool of ${POOL_SIZE} (the create claims a running box)`,
    ...notes,
    "",
  );
  process.stdout.write(lines.join("\n"));
  await mkdir(join(REPO_ROOT, "bench", "results"), { recursive: true });
  await writeFile(
    join(REPO_ROOT, "bench", "results", "latest.json"),
    `${JSON.stringify({ startedAt: started.toISOString(), samples: N, split: SPLIT, results }, null, 2)}\n`,
  );
  process.stdout.write("written to bench/results/latest.json\n");
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
