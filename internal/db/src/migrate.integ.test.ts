import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@boxyard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { MigrationError, migrate, migrationStatus } from "./migrate.ts";
import { type Migration, migrations } from "./migrations.ts";
import { createPool } from "./pool.ts";

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "../migrations");

describe("the migrations list", () => {
  it("names every file in migrations/, numbered contiguously from 1", () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => f.endsWith(".sql"))
      .sort();
    expect(files.map((f) => f.replace(/\.sql$/, ""))).toEqual(
      migrations.map((m) => `${String(m.id).padStart(4, "0")}_${m.name}`),
    );
    for (const [i, m] of migrations.entries()) expect(m.id).toBe(i + 1);
  });
});

// The same behaviour against the run's private PostgreSQL and, when the test
// script started one, an external server reached by URL.
const targets: Array<[string, string | undefined]> = [["private", undefined]];
if (process.env.BOXYARD_EXTERNAL_DATABASE_URL)
  targets.push(["external", process.env.BOXYARD_EXTERNAL_DATABASE_URL]);

describe.each(targets)("migrate on %s PostgreSQL", (_name, serverUrl) => {
  const dbs: TestDatabase[] = [];
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.drop();
  });
  async function freshPool() {
    const db = await createTestDatabase(serverUrl ? { serverUrl } : {});
    dbs.push(db);
    return createPool({ url: db.url, max: 5 });
  }

  it("applies everything once; a second run is a no-op", async () => {
    const pool = await freshPool();
    try {
      expect((await migrationStatus(pool, migrations)).pending).toEqual(migrations.map((m) => m.id));
      const first = await migrate(pool, migrations);
      expect(first.applied).toEqual(migrations.map((m) => m.id));
      const second = await migrate(pool, migrations);
      expect(second.applied).toEqual(first.applied);
      expect((await migrationStatus(pool, migrations)).pending).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it("two servers migrating at once do not race (advisory lock)", async () => {
    const poolA = await freshPool();
    const poolB = createPool({ url: (dbs.at(-1) as TestDatabase).url, max: 5 });
    try {
      const results = await Promise.all([migrate(poolA, migrations), migrate(poolB, migrations)]);
      expect(results[0].applied).toEqual(results[1].applied);
      const { rows } = await poolA.query("SELECT count(*)::int AS n FROM schema_migrations");
      expect(rows[0].n).toBe(migrations.length);
    } finally {
      await poolA.end();
      await poolB.end();
    }
  });

  it("refuses an applied migration whose text changed (forward-only)", async () => {
    const pool = await freshPool();
    try {
      await migrate(pool, migrations);
      const edited: Migration[] = migrations.map((m, i) =>
        i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m,
      );
      await expect(migrate(pool, edited)).rejects.toMatchObject({ code: "migration_checksum_mismatch" });
    } finally {
      await pool.end();
    }
  });

  it("refuses a database migrated by a newer build", async () => {
    const pool = await freshPool();
    try {
      const newer: Migration[] = [
        ...migrations,
        { id: migrations.length + 1, name: "future", sql: "SELECT 1" },
      ];
      await migrate(pool, newer);
      await expect(migrate(pool, migrations)).rejects.toBeInstanceOf(MigrationError);
    } finally {
      await pool.end();
    }
  });

  it("rolls back a failing migration completely", async () => {
    const pool = await freshPool();
    try {
      const bad: Migration[] = [
        ...migrations,
        {
          id: migrations.length + 1,
          name: "bad",
          sql: "CREATE TABLE half_done (x int); SELECT * FROM no_such_table;",
        },
      ];
      await expect(migrate(pool, bad)).rejects.toMatchObject({ code: "migration_failed" });
      const { rows } = await pool.query("SELECT to_regclass('half_done') AS t");
      expect(rows[0].t).toBeNull();
      expect((await migrationStatus(pool, bad)).pending).toEqual([migrations.length + 1]);
    } finally {
      await pool.end();
    }
  });
});
