// Memory pressure on a node: hot-paused boxes keep their RAM, which is what
// makes their resume take milliseconds, but that RAM is the first to give
// back when the node runs short. When the node's available memory drops
// below a floor, the longest-paused hot boxes are picked for a cold pause
// (checkpointed to disk, their RAM freed) until what they hold covers the
// shortfall. The agent then demotes them at once, as if their
// coldPauseAfter had run out.

import { readFile } from "node:fs/promises";

export interface MemoryPressureOptions {
  /** Demote hot-paused boxes while the node has less than this available (bytes). */
  lowBytes: number;
  /** The node's available memory (bytes); default: MemAvailable from /proc/meminfo. */
  availableBytes?: () => Promise<number>;
}

/** A hot-paused box as the pressure check weighs it. */
export interface HotPausedBox {
  id: string;
  /** When the agent first saw it hot-paused (ms since the epoch). */
  pausedSince: number;
  /** Memory it holds: its usage as the runtime reports it, else its limit (bytes). */
  bytes: number;
}

/** MemAvailable from /proc/meminfo, in bytes. */
export async function memAvailableBytes(path = "/proc/meminfo"): Promise<number> {
  const text = await readFile(path, "utf8");
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(text);
  if (!m) throw new Error(`no MemAvailable in ${path}`);
  return Number(m[1]) * 1024;
}

/** MemTotal from /proc/meminfo, in bytes. */
export async function memTotalBytes(path = "/proc/meminfo"): Promise<number> {
  const text = await readFile(path, "utf8");
  const m = /^MemTotal:\s+(\d+)\s+kB$/m.exec(text);
  if (!m) throw new Error(`no MemTotal in ${path}`);
  return Number(m[1]) * 1024;
}

/**
 * The boxes to demote for a shortfall of `lowBytes - availableBytes`: the
 * longest-paused first, as few as cover it (all of them if even all do
 * not). None when there is no shortfall.
 */
export function pickForColdPause(
  available: number,
  lowBytes: number,
  paused: readonly HotPausedBox[],
): HotPausedBox[] {
  let short = lowBytes - available;
  if (short <= 0) return [];
  const out: HotPausedBox[] = [];
  for (const b of [...paused].sort((a, b) => a.pausedSince - b.pausedSince || a.id.localeCompare(b.id))) {
    if (short <= 0) break;
    out.push(b);
    short -= Math.max(b.bytes, 1);
  }
  return out;
}

/**
 * Parses the floor setting: a percentage of the node's memory ("10%") or a
 * size in MiB ("2048"); "0" turns the check off (null).
 */
export function parseMemoryLow(value: string, totalBytes: number): number | null {
  const v = value.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct) {
    const p = Number(pct[1]);
    if (p > 90) throw new Error(`memory floor ${v} is above 90% of the node's memory`);
    return p === 0 ? null : Math.floor((totalBytes * p) / 100);
  }
  if (/^\d+$/.test(v)) return Number(v) === 0 ? null : Number(v) * 1024 * 1024;
  throw new Error(`memory floor "${value}" must be a percentage of the node's memory (10%) or MiB (2048)`);
}

/** The agent's memoryPressure option from the node's setting (see parseMemoryLow); undefined when off. */
export async function memoryPressureFromSetting(value: string): Promise<MemoryPressureOptions | undefined> {
  const lowBytes = parseMemoryLow(value, await memTotalBytes());
  return lowBytes === null ? undefined : { lowBytes };
}
