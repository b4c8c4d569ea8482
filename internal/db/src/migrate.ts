import { createHash } from "node:crypto";
import type pg from "pg";
import type { Migration } from "./migrations.ts";

// One fixed advisory-lock key for schema changes: two servers starting at
// once on the same database apply migrations one after the other.
const MIGRATION_LOCK_KEY = 0x626f7879; // "boxy"

export class MigrationError extends Error {
  readonly code: "migration_checksum_mismatch" | "migration_unknown" | "migration_failed";
  constructor(code: MigrationError["code"], message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = "MigrationError";
    this.code = code;
  }
}

export interface MigrationStatus {
  applied: number[];
  pending: number[];
}

function checksum(m: Migration): string {
  return createHash("sha256").update(m.sql).digest("hex");
}

async function ensureTable(client: pg.PoolClient | pg.Client): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
}

/**
 * Applies pending migrations, each in its own transaction, under a
 * session-level advisory lock. Refuses to run if an applied migration's text
 * changed or the database has migrations this build does not know (a newer
 * server ran against it).
 */
export async function migrate(
  pool: pg.Pool,
  list: readonly Migration[],
  opts: { log?: (msg: string) => void } = {},
): Promise<MigrationStatus> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await ensureTable(client);
      const { rows } = await client.query<{ id: number; checksum: string }>(
        "SELECT id, checksum FROM schema_migrations ORDER BY id",
      );
      const known = new Map(list.map((m) => [m.id, m]));
      for (const row of rows) {
        const m = known.get(row.id);
        if (!m) {
          throw new MigrationError(
            "migration_unknown",
            `database has migration ${row.id}, which this build of Boxyard does not know; run a newer Boxyard`,
          );
        }
        if (checksum(m) !== row.checksum) {
          throw new MigrationError(
            "migration_checksum_mismatch",
            `migration ${m.id} (${m.name}) was changed after it was applied; migrations are forward-only, add a new one`,
          );
        }
      }
      const applied = new Set(rows.map((r) => r.id));
      const done: number[] = [];
      for (const m of list) {
        if (applied.has(m.id)) continue;
        opts.log?.(`applying migration ${m.id} ${m.name}`);
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (id, name, checksum) VALUES ($1, $2, $3)", [
            m.id,
            m.name,
            checksum(m),
          ]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw new MigrationError(
            "migration_failed",
            `migration ${m.id} (${m.name}) failed: ${String(err)}`,
            {
              cause: err,
            },
          );
        }
        done.push(m.id);
      }
      return { applied: [...applied, ...done].sort((a, b) => a - b), pending: [] };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

/** Which migrations are applied and which are pending, without changing anything. */
export async function migrationStatus(pool: pg.Pool, list: readonly Migration[]): Promise<MigrationStatus> {
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  const applied = new Set<number>();
  if (exists.rows[0]?.t) {
    const { rows } = await pool.query<{ id: number }>("SELECT id FROM schema_migrations");
    for (const r of rows) applied.add(r.id);
  }
  return {
    applied: [...applied].sort((a, b) => a - b),
    pending: list.filter((m) => !applied.has(m.id)).map((m) => m.id),
  };
}
