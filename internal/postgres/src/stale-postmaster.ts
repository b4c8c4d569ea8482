// A server that was SIGKILLed leaves its postmaster running, unsupervised.
// Before starting our own we shut that one down cleanly; a pid file of a dead
// process is left to postgres, which recognises and replaces it.

import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "./logger.ts";
import { identifyPostgres, isProcessAlive, signalProcess, waitForProcessExit } from "./process-state.ts";

/** Returns the pid it shut down, if any. */
export async function shutDownStalePostmaster(options: {
  clusterDir: string;
  logger: Logger;
  timeoutMs: number;
}): Promise<number | undefined> {
  const { clusterDir, logger, timeoutMs } = options;
  const pidFile = join(clusterDir, "postmaster.pid");
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return undefined;
  const identity = identifyPostgres(pid, clusterDir);
  if (identity === "other") {
    // The pid was reused by an unrelated process. postgres would refuse to
    // start if that process belongs to its user, so the file goes. (A second
    // postmaster is still kept out by postgres' shared-memory interlock.)
    logger.warn({ pid, pidFile }, "removing postmaster.pid of a reused pid");
    rmSync(pidFile, { force: true });
    return undefined;
  }
  // "unknown" is left to postgres, which reports a live owner in its log.
  if (identity === "unknown") return undefined;
  logger.warn({ pid }, "shutting down a PostgreSQL already running on this data dir");
  // SIGINT is a fast shutdown: it rolls back open transactions and checkpoints.
  signalProcess(pid, "SIGINT");
  if (await waitForProcessExit(pid, timeoutMs)) return pid;
  // SIGQUIT is an immediate shutdown: crash recovery replays WAL on the next start.
  logger.error({ pid }, "previous PostgreSQL ignored the fast shutdown; sending SIGQUIT");
  signalProcess(pid, "SIGQUIT");
  if (await waitForProcessExit(pid, 5_000)) return pid;
  signalProcess(pid, "SIGKILL");
  await waitForProcessExit(pid, 5_000);
  return pid;
}
