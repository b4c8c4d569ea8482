// Where the private PostgreSQL keeps its files under DATA_DIR, and the
// ownership and modes that keep them private:
//
//   DATA_DIR/            server user, at least 0711 so the pg user can traverse it
//   DATA_DIR/pg/         server user, 0711
//   DATA_DIR/pg/data     pg user, 0700 (the cluster; initdb enforces the mode)
//   DATA_DIR/pg/run      pg user, 0700 (unix socket; nothing listens on TCP)
//   DATA_DIR/pg/password server user, 0600 (superuser password)
//   DATA_DIR/pg/postgres.log server user, 0600 (written by the supervisor)

import { chmodSync, chownSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DataDirUntraversableError, DataDirUnwritableError } from "./errors.ts";
import type { PgUser } from "./pg-user.ts";

export interface PgLayout {
  dataDir: string;
  pgDir: string;
  clusterDir: string;
  runDir: string;
  passwordFile: string;
  appPasswordFile: string;
  logFile: string;
}

export function pgLayout(dataDir: string): PgLayout {
  const root = resolve(dataDir);
  const pgDir = join(root, "pg");
  return {
    dataDir: root,
    pgDir,
    clusterDir: join(pgDir, "data"),
    runDir: join(pgDir, "run"),
    passwordFile: join(pgDir, "password"),
    appPasswordFile: join(pgDir, "app-password"),
    logFile: join(pgDir, "postgres.log"),
  };
}

/** Creates the directories with the modes above. Never makes anything world-readable. */
export function prepareLayout(layout: PgLayout, user: PgUser): void {
  try {
    mkdirSync(layout.dataDir, { recursive: true, mode: 0o711 });
    mkdirSync(layout.pgDir, { mode: 0o711, recursive: true });
    mkdirSync(layout.runDir, { mode: 0o700, recursive: true });
    chmodSync(layout.pgDir, 0o711);
    chmodSync(layout.runDir, 0o700);
    if (user.switchUser) chownSync(layout.runDir, user.uid, user.gid);
  } catch (error) {
    throw new DataDirUnwritableError(layout.dataDir, error);
  }
  if (user.switchUser) allowTraversal(layout, user);
}

function allowTraversal(layout: PgLayout, user: PgUser): void {
  // Search permission only (x), so the pg user can reach pg/ but list nothing.
  const mode = statSync(layout.dataDir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(layout.dataDir, mode | 0o011);
  // Ancestors are not ours to change; say which one blocks instead of letting
  // postgres fail later with a bare "permission denied".
  for (let dir = dirname(layout.dataDir); ; dir = dirname(dir)) {
    if (!canTraverse(dir, user)) throw new DataDirUntraversableError(dir, user.name);
    if (dir === dirname(dir)) break;
  }
}

function canTraverse(dir: string, user: PgUser): boolean {
  const st = statSync(dir);
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}
