// api-list-load / api-get-load: throughput and latency under concurrent load
// with 10,000 box rows in the server's database (inserted directly, stopped
// and on no node, with no next reconcile attempt: due rows would queue the
// reconciler behind 10,000 no-op passes and starve the boxes created next). BENCH_API_CONCURRENCY
// requests in flight (default 8), BENCH_API_REQUESTS in all (default 1000).
// Floor: the same SQL on a pg.Pool of the server's size (20) at the same
// concurrency. Ratio: floor throughput / Boxyard throughput (>1 = slower).
import pg from "pg";
import { type CaseContext, type CaseOutput, type CaseResult, envInt, progress, stats } from "./common.ts";

const ORG_ID = "org_load0000000000000000";
const ROWS = 10_000;

/** `total` calls of fn with `concurrency` in flight; per-call latencies and calls per second. */
async function load(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<{ ms: number[]; rps: number }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        ms.push(performance.now() - s);
      }
    }),
  );
  return { ms, rps: total / ((performance.now() - t0) / 1000) };
}

export async function apiLoad(ctx: CaseContext): Promise<CaseOutput> {
  const c = envInt("BENCH_API_CONCURRENCY", 8);
  const total = envInt("BENCH_API_REQUESTS", 1000);
  const { api } = ctx;
  const db = new pg.Pool({ connectionString: ctx.dbUrl, max: 20 });
  const results: Record<string, CaseResult> = {};
  const notes: string[] = [];
  try {
    progress(`api load: inserting ${ROWS} boxes`);
    await db.query(`INSERT INTO orgs (id, name) VALUES ($1, 'load')`, [ORG_ID]);
    await db.query(
      `INSERT INTO org_members (org_id, user_id, role) SELECT $1, id, 'owner' FROM users WHERE username = 'admin'`,
      [ORG_ID],
    );
    await db.query(
      `INSERT INTO boxes (id, org_id, name, owner_id, template, template_version, image, resources, persistent,
                          desired_state, actual_state, next_attempt_at)
       SELECT 'box_9' || lpad(g::text, 19, '0'), $1, 'load-' || g,
              (SELECT id FROM users WHERE username = 'admin'), 'busybox', 1, '{"base":"busybox"}',
              '{"cpu":1,"memoryMiB":256,"diskGiB":1,"gpus":0}', false, 'stopped', 'stopped', NULL
         FROM generate_series(1, ${ROWS}) g`,
      [ORG_ID],
    );
    await db.query("ANALYZE boxes");
    const name = (i: number) => `load-${1 + ((i * 7919) % ROWS)}`;
    const get = async (path: string) => {
      const r = await api.call("GET", path);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
      return r.body;
    };
    const first = await get("/api/v1/orgs/load/boxes?limit=100");
    if (first.items.length !== 100) throw new Error(`list page has ${first.items.length} boxes`);
    const cases: Array<[string, (i: number) => Promise<void>, (i: number) => Promise<void>]> = [
      [
        "api-list-load",
        async () => void (await get("/api/v1/orgs/load/boxes?limit=100")),
        async () =>
          void (await db.query(
            `SELECT b.*, o.name, u.username FROM boxes b JOIN orgs o ON o.id = b.org_id JOIN users u ON u.id = b.owner_id
              WHERE b.org_id = $1 AND b.deleted_at IS NULL ORDER BY b.created_at, b.id LIMIT 101`,
            [ORG_ID],
          )),
      ],
      [
        "api-get-load",
        async (i) => void (await get(`/api/v1/orgs/load/boxes/${name(i)}`)),
        async (i) =>
          void (await db.query(
            `SELECT b.*, o.name, u.username FROM boxes b JOIN orgs o ON o.id = b.org_id JOIN users u ON u.id = b.owner_id
              WHERE b.org_id = $1 AND b.name = $2 AND b.deleted_at IS NULL`,
            [ORG_ID, name(i)],
          )),
      ],
    ];
    for (const [label, viaApi, viaSql] of cases) {
      progress(`${label}: ${total} requests, ${c} in flight`);
      await load(Math.min(100, total), c, viaApi); // warm-up
      const a = await load(total, c, viaApi);
      await load(Math.min(100, total), c, viaSql);
      const f = await load(total, c, viaSql);
      results[label] = {
        boxyard: stats(a.ms),
        floor: stats(f.ms),
        ratio: f.rps / a.rps,
        unit: "ms",
        extra: { concurrency: c, requests: total, rows: ROWS, rps: a.rps, floorRps: f.rps },
      };
      notes.push(
        `${label}: ${a.rps.toFixed(0)} req/s vs ${f.rps.toFixed(0)} SQL queries/s (${total} requests, ${c} in flight, ${ROWS} boxes; ratio = throughput floor / Boxyard)`,
      );
    }
  } finally {
    await db.query("DELETE FROM boxes WHERE org_id = $1", [ORG_ID]).catch(() => {});
    await db.end();
  }
  return { results, notes };
}
