import { statfs } from "node:fs/promises";
import { cpus, hostname, totalmem } from "node:os";

/** The host name as a node name (DNS-label characters). */
export function localNodeName(): string {
  const name = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 63);
  return name || "local";
}

/**
 * What this node offers the scheduler. A box's CPU is a CFS quota (a
 * ceiling), not a reservation, and dev boxes idle most of the time, so CPU
 * is overcommitted (BOXYARD_CPU_OVERCOMMIT, default 4x); memory and disk are
 * not.
 */
export async function localCapacity(dataDir: string) {
  const fs = await statfs(dataDir).catch(() => null);
  const overcommit = Number(process.env.BOXYARD_CPU_OVERCOMMIT ?? "4");
  return {
    cpu: cpus().length * (Number.isFinite(overcommit) && overcommit >= 1 ? overcommit : 4),
    memoryMiB: Math.floor(totalmem() / 2 ** 20),
    diskGiB: fs ? Math.floor((fs.blocks * fs.bsize) / 2 ** 30) : 0,
    gpus: 0,
  };
}
