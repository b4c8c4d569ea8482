// The driver's durable record of one box, next to its disks. A restarted
// agent rebuilds its view from these records plus `runsc state`, so writes
// are atomic (temp file + rename) and the phase is the last one this driver
// completed.

import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { BoxSpec } from "../runtime.ts";

export type RecordedPhase = "prepared" | "running" | "paused" | "checkpointed" | "stopped";

export interface BoxRecord {
  version: 1;
  spec: BoxSpec;
  phase: RecordedPhase;
  /** Host paths of the layers, lowest first, resolved at prepare. */
  layerDirs: string[];
  netnsPath?: string;
  address?: string;
  /**
   * The box's netns was reset after its last sandbox ended (a checkpoint
   * does it, off the resume's critical path), or was configured by the
   * prepare's attach and never used: the next start or restore needs no
   * reset. Cleared on disk before a sandbox uses the netns again.
   */
  networkReady?: boolean;
  /**
   * The token of PID 1's exec port (box-exec-port.ts), given to PID 1 at a
   * fresh boot and kept while a checkpoint of that PID 1 may be restored.
   * Absent: the box was booted by a driver without the port.
   */
  execToken?: string;
  updatedAt: string;
}

export async function readRecord(path: string): Promise<BoxRecord | null> {
  try {
    // A few kB, read at once: every look at a box reads it.
    return JSON.parse(readFileSync(path, "utf8")) as BoxRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    // A torn record cannot happen with rename, but a corrupt one must not crash list().
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}

export async function writeRecord(path: string, record: BoxRecord): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  // A few kB, written at once (two trips through the thread pool cost a loaded node more).
  writeFileSync(tmp, JSON.stringify({ ...record, updatedAt: new Date().toISOString() }, null, 2), {
    mode: 0o600,
  });
  renameSync(tmp, path);
}
