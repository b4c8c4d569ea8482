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

const NOT_YET_MIGRATED = new Set<string>([
]);

/** Where the store itself lives: the one place allowed to call queries. */
const EXEMPT_DIRS = ["internal/db/", "internal/authz/src/"];

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

function queryImports(): Map<string, string[]> {
  const queries = new Set<string>(STORE_METHODS);
  const out = new Map<string, string[]>();
  for (const top of ["apps", "internal", "packages", "tests", "bench"]) {
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
        if (EXEMPT_DIRS.some((d) => rel.startsWith(d))) continue;
        if (/\.test\.tsx?$/.test(rel) || rel.startsWith("tests/") || rel.startsWith("internal/testkit/"))
          continue;
        const used = valueImportsFromDb(readFileSync(file, "utf8")).filter(
          (n) => n === "*" || queries.has(n),
        );
        if (used.length > 0) out.set(rel, used);
      }
    }
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
});
