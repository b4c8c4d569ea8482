// Finds the PostgreSQL server binaries. Debian keeps them out of PATH under
// /usr/lib/postgresql/<major>/bin, so PATH alone is not enough.

import { execFile } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PostgresMissingError } from "./errors.ts";

const execFileAsync = promisify(execFile);

export interface PostgresBinaries {
  binDir: string;
  postgres: string;
  initdb: string;
  /** Major version of the binaries, e.g. "15". */
  major: string;
}

/** Resolves the binaries from `binDir` when given, else searches the usual places. */
export async function findPostgresBinaries(options: { binDir?: string } = {}): Promise<PostgresBinaries> {
  const candidates = options.binDir !== undefined ? [options.binDir] : await candidateBinDirs();
  const binDir = candidates.find(hasServerBinaries);
  if (binDir === undefined) {
    throw new PostgresMissingError(options.binDir ?? "/usr/lib/postgresql/*/bin, pg_config --bindir or PATH");
  }
  const postgres = join(binDir, "postgres");
  const { stdout } = await execFileAsync(postgres, ["--version"]);
  // "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)" -> "15"
  const major = /\(PostgreSQL\)\s+(\d+)/.exec(stdout)?.[1];
  if (major === undefined)
    throw new PostgresMissingError(`${binDir} (unrecognised version: ${stdout.trim()})`);
  return { binDir, postgres, initdb: join(binDir, "initdb"), major };
}

async function candidateBinDirs(): Promise<string[]> {
  const dirs: string[] = [];
  const root = "/usr/lib/postgresql";
  try {
    const majors = readdirSync(root)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...majors.map((major) => join(root, major, "bin")));
  } catch {
    // Not a Debian-style layout; fall through to pg_config and PATH.
  }
  try {
    const { stdout } = await execFileAsync("pg_config", ["--bindir"]);
    dirs.push(stdout.trim());
  } catch {
    // pg_config is in libpq-dev, which need not be installed.
  }
  dirs.push(...(process.env.PATH ?? "").split(":").filter((dir) => dir !== ""));
  return dirs;
}

function hasServerBinaries(dir: string): boolean {
  try {
    accessSync(join(dir, "postgres"), constants.X_OK);
    accessSync(join(dir, "initdb"), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
