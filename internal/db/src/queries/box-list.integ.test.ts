// The box list at scale (issue 9's API case, 10,000 boxes): a page is an
// index range scan over (org_id, created_at, id), with or without a cursor,
// because created_at is kept to the millisecond the cursor carries
// (migration 20), and paging with the cursor sees every box once, in order.
import { createTestDatabase, type TestDatabase } from "@boxyard/testkit";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../migrate.ts";
import { migrations } from "../migrations.ts";
import { createPool, type Queryable } from "../pool.ts";
import { listBoxesByOrg } from "./boxes.ts";

const ORG = "org_list0000000000000000";
const BOXES = 3000;

let db: TestDatabase;
let pool: pg.Pool;

/** Inserts `n` boxes whose created_at values are microseconds apart (many share a millisecond). */
async function insertBoxes(from: number, n: number): Promise<void> {
  await pool.query(
    `INSERT INTO boxes (id, org_id, name, owner_id, template, template_version, image, resources, persistent,
                        desired_state, actual_state, created_at)
     SELECT 'box_' || lpad(g::text, 20, '0'), $1, 'b-' || g, 'usr_list', 'busybox', 1, '{"base":"busybox"}',
            '{"cpu":1,"memoryMiB":256,"diskGiB":1,"gpus":0}', false, 'stopped', 'stopped',
            timestamptz '2026-11-30 12:00:00+00' + (g * 137) * interval '1 microsecond'
       FROM generate_series($2::int, $3::int) g`,
    [ORG, from, from + n - 1],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ url: db.url, max: 3 });
  // Boxes made before migration 20 have microseconds; the migration cuts them.
  await migrate(pool, migrations.slice(0, 19));
  await pool.query(`INSERT INTO users (id, username) VALUES ('usr_list', 'lister')`);
  await pool.query(`INSERT INTO orgs (id, name) VALUES ($1, 'lister-org')`, [ORG]);
  await insertBoxes(1, 100);
  await migrate(pool, migrations);
  await insertBoxes(101, BOXES - 100);
  await pool.query("ANALYZE boxes");
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** The plan listBoxesByOrg's query gets, as JSON. */
async function planOf(after?: { createdAt: Date; id: string }): Promise<string> {
  // The pool, with every query it is asked explained instead of run.
  const explaining = new Proxy(pool, {
    get: (target, key) =>
      key === "query"
        ? (text: string, params: unknown[]) => target.query(`EXPLAIN (FORMAT JSON) ${text}`, params)
        : Reflect.get(target, key),
  }) as Queryable;
  const rows = (await listBoxesByOrg(explaining, ORG, { limit: 51, after })) as unknown as Array<{
    "QUERY PLAN": unknown;
  }>;
  return JSON.stringify(rows[0]?.["QUERY PLAN"]);
}

describe("the box list at scale", () => {
  it("keeps created_at to the millisecond: boxes from before migration 20 and after", async () => {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM boxes WHERE created_at <> date_trunc('milliseconds', created_at)",
    );
    expect(rows[0]?.n).toBe(0);
    // The claim of a pooled box sets created_at too: cut the same way.
    await pool.query(
      "UPDATE boxes SET created_at = timestamptz '2026-11-30 13:00:00.123456+00' WHERE id = 'box_00000000000000000001'",
    );
    const one = await pool.query<{ t: string }>(
      "SELECT to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS t FROM boxes WHERE id = 'box_00000000000000000001'",
    );
    expect(one.rows[0]?.t).toBe("13:00:00.123000");
  });

  it("reads a page as an index range scan, with no sort of the org's boxes, with and without a cursor", async () => {
    for (const plan of [
      await planOf(),
      await planOf({ createdAt: new Date("2026-11-30T12:00:00.200Z"), id: "" }),
    ]) {
      expect(plan).toContain('"Index Name":"boxes_org_created"');
      expect(plan).not.toContain('"Node Type":"Sort"');
    }
    // With a cursor the index is entered at it, not scanned from the org's first box.
    expect(await planOf({ createdAt: new Date("2026-11-30T12:00:00.200Z"), id: "" })).toMatch(
      /"Index Cond":"\(\(org_id = '[^']+'::text\) AND \(ROW\(created_at, id\) > ROW\(/,
    );
  });

  it("pages through every box once, in (created_at, id) order, by the cursor the API hands out", async () => {
    const seen: string[] = [];
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const page = await listBoxesByOrg(pool, ORG, { limit: 200, after });
      seen.push(...page.map((b) => b.id));
      const last = page.at(-1);
      if (page.length < 200 || !last) break;
      // As encodeCursor/decodeCursor carry it: an ISO string, to the millisecond.
      after = { createdAt: new Date(last.created_at.toISOString()), id: last.id };
    }
    const { rows } = await pool.query<{ id: string }>(
      "SELECT id FROM boxes WHERE org_id = $1 ORDER BY created_at, id",
      [ORG],
    );
    expect(seen).toHaveLength(BOXES);
    expect(seen).toEqual(rows.map((r) => r.id));
  });
});
