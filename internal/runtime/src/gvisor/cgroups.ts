// The box's cgroup v1 directories (runsc creates them from the spec's
// cgroupsPath on every controller): usage for inspect, and removal when the
// sandbox is gone, because a sandbox that died without `runsc delete` leaves
// them behind.

import { readdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";

const cgroupRoot = "/sys/fs/cgroup";

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, "utf8")).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function cgroupUsage(
  cgroupsPath: string,
): Promise<{ cpuSeconds?: number; memoryBytes?: number }> {
  const cpuNs = await readNumber(join(cgroupRoot, "cpuacct", cgroupsPath, "cpuacct.usage"));
  const mem = await readNumber(join(cgroupRoot, "memory", cgroupsPath, "memory.usage_in_bytes"));
  const out: { cpuSeconds?: number; memoryBytes?: number } = {};
  if (cpuNs !== undefined) out.cpuSeconds = cpuNs / 1e9;
  if (mem !== undefined) out.memoryBytes = mem;
  return out;
}

/** Count of OOM kills in the box's memory cgroup, when it still exists. */
export async function oomKills(cgroupsPath: string): Promise<number> {
  try {
    const text = await readFile(join(cgroupRoot, "memory", cgroupsPath, "memory.oom_control"), "utf8");
    const m = /oom_kill (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Controllers (v1 hierarchies) mounted on this node. */
export async function controllers(): Promise<string[]> {
  const names = await readdir(cgroupRoot);
  return names.filter((n) => n !== "unified" && !n.includes(","));
}

/** Every controller dir of `cgroupsPath` that still exists. */
export async function existingCgroups(cgroupsPath: string): Promise<string[]> {
  const found: string[] = [];
  for (const c of await controllers()) {
    const dir = join(cgroupRoot, c, cgroupsPath);
    try {
      await readdir(dir);
      found.push(dir);
    } catch {}
  }
  return found;
}

/** Removes the box's cgroup dirs; empty cgroups only (the sandbox must be gone). */
export async function removeCgroups(cgroupsPath: string): Promise<void> {
  for (const dir of await existingCgroups(cgroupsPath)) {
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}
