// A small leak census for processes: which processes match a name and working
// directory, and which of a set of pids are still alive. Tests record the pids
// they start and assert none outlive their clean-up.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcessFilter {
  /** The kernel's command name (/proc/PID/comm), e.g. "postgres". */
  name?: string;
  /** Working directory, e.g. a PostgreSQL data dir (postgres chdirs there). */
  cwd?: string;
}

/** Live (non-zombie) processes matching every given field of `filter`. */
export function findProcesses(filter: ProcessFilter): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (filter.name !== undefined && readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== filter.name)
        continue;
      if (filter.cwd !== undefined && readlinkSync(`/proc/${pid}/cwd`) !== filter.cwd) continue;
      if (isAlive(pid)) pids.push(pid);
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}

/** The subset of `pids` still alive (zombies count as gone). */
export function alivePids(pids: readonly number[]): number[] {
  return pids.filter(isAlive);
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
