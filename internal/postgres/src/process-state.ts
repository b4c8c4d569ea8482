// Looks at processes through /proc. A zombie counts as dead: an orphaned
// postmaster re-parented to a PID 1 that never reaps would otherwise look
// alive forever.

import { readFileSync, readlinkSync, realpathSync } from "node:fs";

export function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the parenthesised command name, which may itself contain ")".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export type PostgresIdentity = "ours" | "other" | "unknown";

/**
 * Whether `pid` is a postgres whose working directory is `dataDir` (postgres
 * chdirs there): "other" only when we can see it is not, "unknown" when
 * /proc does not let us look (another user's process, without root).
 */
export function identifyPostgres(pid: number, dataDir: string): PostgresIdentity {
  let comm: string;
  try {
    comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "unknown";
  }
  if (comm !== "postgres" && comm !== "postmaster") return "other";
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dataDir) ? "ours" : "other";
  } catch {
    return "unknown";
  }
}

export function isPostgresFor(pid: number, dataDir: string): boolean {
  return identifyPostgres(pid, dataDir) === "ours";
}

/** Polls until `pid` is gone or the deadline passes; returns whether it is gone. */
export async function waitForProcessExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
