import { DomainError } from "@boxyard/errors";
import pg from "pg";

// Timestamps come back as JS Dates (the driver default); bigint counts as
// numbers where they fit, since our counters never exceed 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export interface PoolOptions {
  url: string;
  max?: number;
  /** Fail a query waiting for a connection after this long (shed load instead of queueing forever). */
  connectionTimeoutMs?: number;
  statementTimeoutMs?: number;
  applicationName?: string;
}

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 20,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    application_name: opts.applicationName ?? "boxyard",
  });
  // An idle client losing its connection (database restart) must not crash
  // the process; the pool drops it and the next query reconnects.
  pool.on("error", () => {});
  return pool;
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "08006",
  "08001",
  "08003",
  "08004",
]);

/** True for errors that mean "the database is not reachable right now". */
export function isUnavailable(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
  const msg = (err as { message?: unknown }).message;
  return (
    typeof msg === "string" && /timeout exceeded when trying to connect|Connection terminated/i.test(msg)
  );
}

/** Maps driver errors to domain errors at the store boundary: an outage is a retryable 503, not a 500. */
export function mapDbError(err: unknown): unknown {
  if (isUnavailable(err))
    return new DomainError("database_unavailable", { cause: err, headers: { "retry-after": "2" } });
  return err;
}

const RETRYABLE = new Set(["40P01", "40001"]); // deadlock detected, serialization failure

/**
 * Runs `fn` in a transaction on one client; rolls back on any error. A
 * transaction that lost a deadlock or a serialization conflict is run again
 * (a few times, with jitter), so callers never see those as errors; `fn`
 * must therefore only touch the database.
 */
export async function inTx<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw mapDbError(err);
    }
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && RETRYABLE.has(code) && attempt < 4) {
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
        continue;
      }
      throw mapDbError(err);
    } finally {
      client.release();
    }
  }
}

export type Queryable = pg.Pool | pg.PoolClient;
