// Waits until a server accepts connections and answers a query. While it
// starts or recovers it refuses connections, so errors before the deadline
// are expected and only the last one is reported.

import pg from "pg";
import { errorText } from "./errors.ts";

export class PostgresNotReadyError extends Error {
  readonly code = "postgres_not_ready";

  constructor(reason: string) {
    super(`PostgreSQL is not accepting connections: ${reason}`);
    this.name = "PostgresNotReadyError";
  }
}

export async function waitForPostgres(
  url: string,
  options: {
    timeoutMs: number;
    intervalMs?: number;
    /** Checked between attempts; returning a reason stops the wait early (e.g. "postgres exited"). */
    giveUp?: () => string | undefined;
  },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = "no attempt made";
  for (;;) {
    const reason = options.giveUp?.();
    if (reason !== undefined) throw new PostgresNotReadyError(`${reason} (last error: ${lastError})`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (error) {
      lastError = errorText(error);
    } finally {
      await client.end().catch(() => {});
    }
    if (Date.now() >= deadline)
      throw new PostgresNotReadyError(`timed out after ${options.timeoutMs} ms: ${lastError}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
