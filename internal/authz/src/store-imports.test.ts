// B2's other half: the authorized store is the only way to a query. Outside
// internal/db and this package, no source file may import a query function
// from @boxyard/db (types, inTx, createPool, migrations and constants stay
// importable). Tests may, to set up fixtures as the database owner.
// NOT_YET_MIGRATED lists files still calling queries directly; it only
// shrinks: a listed file that no longer needs to be there fails the test.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { STORE_METHODS } from "./store.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

const NOT_YET_MIGRATED = new Set<string>([]);

/**
 * Files that still send SQL of their own (`x.query(...)`) instead of a
 * query function behind a policy, each with why. Like NOT_YET_MIGRATED it
 * only shrinks: tenant data read here bypasses the store's checks.
 */
const RAW_SQL_ALLOWED = new Map<string, string>([
  ["apps/server/src/server.ts", "SELECT 1: the database readiness probe"],
  ["apps/server/src/api/lifecycle-harness.ts", "test support: seeds a user and an org as the database owner"],
  ["internal/audit/src/anchors.ts", "the audit chain module: chain heads for the anchor file"],
  ["internal/audit/src/record.ts", "the audit chain module: appends in the caller's transaction"],
  ["internal/audit/src/verify.ts", "the audit chain module: reads one org's chain to verify it"],
  ["internal/lifecycle/src/pg-listener.ts", "LISTEN on a dedicated client"],
]);

/** Where the store itself lives: the one place allowed to call queries. */
const EXEMPT_DIRS = ["internal/db/", "internal/authz/src/"];
/** Tooling that runs as the database owner, not as a tenant: test databases, the server's own database, benchmarks. */
const RAW_SQL_EXEMPT_DIRS = [...EXEMPT_DIRS, "internal/postgres/", "internal/testkit/", "bench/"];

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.tsx?$/.test(name) && !/\.d\.ts$/.test(name)) yield path;
  }
}

/** The value (non-type) names a file imports from @boxyard/db. */
export function valueImportsFromDb(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s*from\s*["']@boxyard\/db["']/g)) {
    if (m[1]) continue;
    for (const part of m[2]!.split(",")) {
      const spec = part.trim();
      if (!spec || spec.startsWith("type ")) continue;
      names.push(spec.split(/\s+as\s+/)[0]!.trim());
    }
  }
  if (/import\s+\*\s+as\s+\w+\s+from\s*["']@boxyard\/db["']/.test(source)) names.push("*");
  return names;
}

function* productionFiles(exempt: readonly string[]): Generator<[string, string]> {
  for (const top of ["apps", "internal", "packages", "bench"]) {
    let entries: string[];
    try {
      entries = readdirSync(join(ROOT, top));
    } catch {
      continue;
    }
    for (const pkg of entries) {
      const dir = join(ROOT, top, pkg);
      if (!statSync(dir).isDirectory()) continue;
      for (const file of sourceFiles(dir)) {
        const rel = relative(ROOT, file);
        if (exempt.some((d) => rel.startsWith(d)) || /\.test\.tsx?$/.test(rel)) continue;
        yield [rel, readFileSync(file, "utf8")];
      }
    }
  }
}

function queryImports(): Map<string, string[]> {
  const queries = new Set<string>(STORE_METHODS);
  const out = new Map<string, string[]>();
  for (const [rel, source] of productionFiles([...EXEMPT_DIRS, "internal/testkit/"])) {
    const used = valueImportsFromDb(source).filter((n) => n === "*" || queries.has(n));
    if (used.length > 0) out.set(rel, used);
  }
  return out;
}

describe("B2: queries only through the authorized store", () => {
  it("parses value imports and skips type imports", () => {
    expect(
      valueImportsFromDb(`import { type BoxRow, getBoxById as g, inTx } from "@boxyard/db";
import type { Queryable } from "@boxyard/db";`),
    ).toEqual(["getBoxById", "inTx"]);
  });

  it("B2: no file outside internal/db and the store imports a query function, except the shrinking allow-list", () => {
    const found = queryImports();
    const offenders = [...found]
      .filter(([f]) => !NOT_YET_MIGRATED.has(f))
      .map(([f, n]) => `${f}: ${n.join(", ")}`);
    expect(offenders, "call these through authorizedStore(db, actor) from @boxyard/authz").toEqual([]);
    const done = [...NOT_YET_MIGRATED].filter((f) => !found.has(f));
    expect(done, "migrated: remove these from NOT_YET_MIGRATED in store-imports.test.ts").toEqual([]);
  });

  it("B2: no SQL of its own outside internal/db and the store, except the shrinking RAW_SQL_ALLOWED list", () => {
    const found = new Set<string>();
    for (const [rel, source] of productionFiles(RAW_SQL_EXEMPT_DIRS))
      if (/\.query\s*(<[^>]*>)?\s*\(/.test(source)) found.add(rel);
    const offenders = [...found].filter((f) => !RAW_SQL_ALLOWED.has(f));
    expect(offenders, "add a query function to internal/db with a policy in internal/authz instead").toEqual(
      [],
    );
    const done = [...RAW_SQL_ALLOWED.keys()].filter((f) => !found.has(f));
    expect(done, "no SQL left: remove these from RAW_SQL_ALLOWED in store-imports.test.ts").toEqual([]);
  });
});
