// Creates the cluster on first start, or checks the existing one. initdb runs
// into a temporary directory that is renamed into place only when complete,
// so a crash half-way leaves a leftover to delete, never a half-made cluster.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PostgresBinaries } from "./binaries.ts";
import {
  DataDirInvalidError,
  PasswordMissingError,
  PostgresStartFailedError,
  PostgresVersionMismatchError,
} from "./errors.ts";
import type { PgLayout } from "./layout.ts";
import type { Logger } from "./logger.ts";
import { type PgUser, pgUserSpawnOptions } from "./pg-user.ts";

const execFileAsync = promisify(execFile);

export const SUPERUSER = "postgres";
const INIT_PREFIX = "data.init-";
const PWFILE_PREFIX = "initdb-pw-";

export interface ClusterState {
  superuserPassword: string;
  /** True when this call ran initdb. */
  created: boolean;
}

export async function ensureCluster(options: {
  layout: PgLayout;
  binaries: PostgresBinaries;
  user: PgUser;
  logger: Logger;
}): Promise<ClusterState> {
  const { layout, binaries, user, logger } = options;
  removeLeftovers(layout, logger);
  if (existsSync(layout.clusterDir)) {
    checkCluster(layout.clusterDir, binaries.major);
    if (!existsSync(layout.passwordFile)) throw new PasswordMissingError(layout.passwordFile);
    return { superuserPassword: readFileSync(layout.passwordFile, "utf8").trim(), created: false };
  }

  const password = randomBytes(24).toString("base64url");
  // The password is written first: a crash after it but before the rename
  // only means the next start generates another one.
  writeFileAtomic(layout.passwordFile, `${password}\n`);
  const suffix = randomBytes(6).toString("hex");
  const tempDir = join(layout.pgDir, `${INIT_PREFIX}${suffix}`);
  const pwFile = join(layout.pgDir, `${PWFILE_PREFIX}${suffix}`);
  try {
    createOwned(tempDir, user, { dir: true });
    createOwned(pwFile, user, { dir: false, content: `${password}\n` });
    await runInitdb({ binaries, user, dir: tempDir, pwFile, layout });
    rmSync(pwFile, { force: true });
    renameSync(tempDir, layout.clusterDir);
    fsyncDir(layout.pgDir);
  } finally {
    rmSync(pwFile, { force: true });
    rmSync(tempDir, { recursive: true, force: true });
  }
  logger.info({ clusterDir: layout.clusterDir }, "initialised PostgreSQL cluster");
  return { superuserPassword: password, created: true };
}

async function runInitdb(options: {
  binaries: PostgresBinaries;
  user: PgUser;
  dir: string;
  pwFile: string;
  layout: PgLayout;
}): Promise<void> {
  const base = [
    "-D",
    options.dir,
    "-U",
    SUPERUSER,
    `--pwfile=${options.pwFile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    // Checksums let PostgreSQL notice pages the disk corrupted.
    "--data-checksums",
  ];
  const spawnOptions = { ...pgUserSpawnOptions(options.user), cwd: options.dir };
  let lastError: unknown;
  // C.UTF-8 gives Unicode-aware upper()/lower(); not every libc ships it, and C always works.
  for (const locale of ["C.UTF-8", "C"]) {
    try {
      await execFileAsync(options.binaries.initdb, [...base, `--locale=${locale}`], spawnOptions);
      return;
    } catch (error) {
      lastError = error;
      // initdb removes what it created on failure, but only files, so start the next try empty.
      for (const name of readdirSync(options.dir))
        rmSync(join(options.dir, name), { recursive: true, force: true });
    }
  }
  const output = lastError as { stderr?: string; message?: string };
  throw new PostgresStartFailedError(
    "initdb failed",
    options.layout.logFile,
    (output.stderr ?? output.message ?? String(lastError)).trim(),
  );
}

function checkCluster(dir: string, binMajor: string): void {
  const versionFile = join(dir, "PG_VERSION");
  if (!existsSync(versionFile)) throw new DataDirInvalidError(dir, "no PG_VERSION");
  if (!existsSync(join(dir, "global", "pg_control")))
    throw new DataDirInvalidError(dir, "no global/pg_control");
  const dataMajor = readFileSync(versionFile, "utf8").trim();
  if (dataMajor !== binMajor) throw new PostgresVersionMismatchError(dir, dataMajor, binMajor);
}

function removeLeftovers(layout: PgLayout, logger: Logger): void {
  for (const name of readdirSync(layout.pgDir)) {
    if (name.startsWith(INIT_PREFIX) || name.startsWith(PWFILE_PREFIX)) {
      logger.warn({ path: join(layout.pgDir, name) }, "removing leftover of an interrupted initdb");
      rmSync(join(layout.pgDir, name), { recursive: true, force: true });
    }
  }
}

function createOwned(path: string, user: PgUser, what: { dir: boolean; content?: string }): void {
  if (what.dir) mkdirSync(path, { mode: 0o700 });
  else writeFileSync(path, what.content ?? "", { mode: 0o600, flag: "wx" });
  if (user.switchUser) chownSync(path, user.uid, user.gid);
}

function writeFileAtomic(path: string, content: string): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  const fd = openSync(temp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
