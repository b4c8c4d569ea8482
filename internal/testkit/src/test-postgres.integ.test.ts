import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPostgres, type TestPostgres } from "./test-postgres.ts";

describe("startTestPostgres / createTestDatabase", () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startTestPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function query(url: string, sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  it("gives each test its own database and drops it afterwards", async () => {
    const a = await server.createTestDatabase();
    const b = await server.createTestDatabase();
    try {
      expect(a.name).not.toBe(b.name);
      await query(a.url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
      // The same table name in the other database is independent.
      await query(b.url, "CREATE TABLE t (x int)");
      expect((await query(b.url, "SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(0);
    } finally {
      // Drop works while a client is still connected (WITH FORCE).
      const lingering = new pg.Client({ connectionString: a.url });
      await lingering.connect();
      lingering.on("error", () => {});
      await a.drop();
      await b.drop();
      await lingering.end().catch(() => {});
    }
    const left = await query(
      server.url,
      `SELECT datname FROM pg_database WHERE datname IN ('${a.name}', '${b.name}')`,
    );
    expect(left.rowCount).toBe(0);
  });
});
