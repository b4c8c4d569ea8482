// The box's cgroup v1 directories (runsc creates them from the spec's
// cgroupsPath on every controller): usage for inspect, the freezer that
// hot-pauses a box, and removal when the sandbox is gone, because a sandbox
// that died without `runsc delete` leaves them behind.

import { existsSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const cgroupRoot = "/sys/fs/cgroup";

/** A number from a cgroup file; read synchronously (kernel files never wait on a disk, and each look at a box reads two). */
function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function cgroupUsage(
  cgroupsPath: string,
): Promise<{ cpuSeconds?: number; memoryBytes?: number }> {
  const cpuNs = readNumber(join(cgroupRoot, "cpuacct", cgroupsPath, "cpuacct.usage"));
  const mem = readNumber(join(cgroupRoot, "memory", cgroupsPath, "memory.usage_in_bytes"));
  const out: { cpuSeconds?: number; memoryBytes?: number } = {};
  if (cpuNs !== undefined) out.cpuSeconds = cpuNs / 1e9;
  if (mem !== undefined) out.memoryBytes = mem;
  return out;
}

/**
 * The box's memory cgroup dir on the host (v1), whose usage files boxinit's
 * OOM guard reads through read-only bind mounts; runsc creates it (and sets
 * its limit) before the gofer resolves mount sources. Undefined without a v1
 * memory controller: the guard then falls back to /proc/meminfo.
 */
export function memoryCgroupDir(cgroupsPath: string): string | undefined {
  return existsSync(join(cgroupRoot, "memory", "memory.stat"))
    ? join(cgroupRoot, "memory", cgroupsPath)
    : undefined;
}

/**
 * Makes the host OOM killer prefer the sandbox's systrap stubs (one per box
 * address space) over the sentry and the gofer: oom_score_adj 1000 on every
 * process of the box's cgroup that is not runsc itself. Killing a stub ends
 * only the box process behind it; killing the sentry ends the whole box. New
 * stubs are cloned from the first one and inherit the value. Raising the
 * value needs no privilege beyond owning the process. Best effort: boxinit's
 * OOM guard normally acts before the host limit is reached; this is the
 * backstop for what it cannot see in time.
 */
export async function preferStubsAsOomVictims(cgroupsPath: string, sandboxPid: number): Promise<number> {
  let raised = 0;
  // Twice: a stub cloned while the first pass ran may not have inherited it.
  for (let pass = 0; pass < 2; pass++) {
    let pids: string[];
    try {
      pids = (await readFile(join(cgroupRoot, "memory", cgroupsPath, "cgroup.procs"), "utf8")).split("\n");
    } catch {
      return raised;
    }
    for (const pid of pids) {
      if (!/^\d+$/.test(pid) || Number(pid) === sandboxPid) continue;
      try {
        const argv0 = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0")[0] ?? "";
        if (argv0.startsWith("runsc")) continue;
        if ((await readFile(`/proc/${pid}/oom_score_adj`, "utf8")).trim() === "1000") continue;
        await writeFile(`/proc/${pid}/oom_score_adj`, "1000");
        raised++;
      } catch {
        // Gone in the meantime.
      }
    }
  }
  return raised;
}

export type FreezerState = "THAWED" | "FREEZING" | "FROZEN";

/**
 * The box's v1 freezer state; undefined without one (no freezer hierarchy,
 * or no sandbox). Read synchronously: a kernel file that never waits on a
 * disk, asked on every look at a box.
 */
export function freezerState(cgroupsPath: string): FreezerState | undefined {
  try {
    return readFileSync(
      join(cgroupRoot, "freezer", cgroupsPath, "freezer.state"),
      "utf8",
    ).trim() as FreezerState;
  } catch {
    return undefined;
  }
}

/**
 * Freezes every process of the box's cgroup (sentry, gofer, systrap stubs)
 * with the v1 freezer, as runc's pause does: nothing in the box runs until
 * thawed, and no runsc process is started (a `runsc pause` is a process
 * start plus a call into the sentry). True once all are frozen; false when
 * the box has no freezer cgroup, or when some process would not freeze
 * within `timeoutMs` (one stuck in an uninterruptible wait): the box is
 * thawed again and the caller pauses it another way.
 */
export async function freeze(cgroupsPath: string, timeoutMs = 2_000): Promise<boolean> {
  const file = join(cgroupRoot, "freezer", cgroupsPath, "freezer.state");
  try {
    await writeFile(file, "FROZEN");
  } catch {
    return false;
  }
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if (freezerState(cgroupsPath) === "FROZEN") return true;
    await new Promise((r) => setTimeout(r, 1));
  }
  await thaw(cgroupsPath);
  return false;
}

/** Lets the box's processes run again (a no-op on a thawed or missing cgroup). */
export async function thaw(cgroupsPath: string): Promise<void> {
  try {
    await writeFile(join(cgroupRoot, "freezer", cgroupsPath, "freezer.state"), "THAWED");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * The pid of the box's sentry (the process runsc reports as the sandbox's),
 * found in its freezer cgroup: `runsc state` cannot be asked while the box
 * is frozen, since it calls into the sentry. Undefined when it is not there.
 */
export function frozenSandboxPid(cgroupsPath: string): number | undefined {
  let pids: string[];
  try {
    pids = readFileSync(join(cgroupRoot, "freezer", cgroupsPath, "cgroup.procs"), "utf8").split("\n");
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
      if (argv0 === "runsc-sandbox") return Number(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
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
  return controllerNames();
}

// Read at once (cgroupfs and its tmpfs root answer in microseconds): on a boot's path, a trip
// through libuv's thread pool per controller cost a loaded node 3-15 ms a start.
function controllerNames(): string[] {
  return readdirSync(cgroupRoot).filter((n) => n !== "unified" && !n.includes(","));
}

/** Every controller dir of `cgroupsPath` that still exists. */
export async function existingCgroups(cgroupsPath: string): Promise<string[]> {
  return controllerNames()
    .map((c) => join(cgroupRoot, c, cgroupsPath))
    .filter((dir) => existsSync(dir));
}

/** Removes the box's cgroup dirs; empty cgroups only (the sandbox must be gone). */
export async function removeCgroups(cgroupsPath: string): Promise<void> {
  for (const dir of await existingCgroups(cgroupsPath)) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

/**
 * Sets the CFS quota of the box's cgroup (v1 cpu controller, or cpu.max on
 * v2) and reads it back: a box must never keep a larger share than its own
 * after a boot that was given more (GvisorRuntimeOptions.bootCpu).
 */
export async function setCpuQuota(cgroupsPath: string, quotaUs: number, periodUs: number): Promise<void> {
  const v1 = join(cgroupRoot, "cpu", cgroupsPath);
  if (existsSync(join(v1, "cpu.cfs_quota_us"))) {
    await writeFile(join(v1, "cpu.cfs_period_us"), String(periodUs));
    await writeFile(join(v1, "cpu.cfs_quota_us"), String(quotaUs));
    const got = readNumber(join(v1, "cpu.cfs_quota_us"));
    if (got !== quotaUs) throw new Error(`${v1}/cpu.cfs_quota_us reads ${got} after writing ${quotaUs}`);
    return;
  }
  const v2 = join(cgroupRoot, cgroupsPath, "cpu.max");
  await writeFile(v2, `${quotaUs} ${periodUs}`);
  const got = (await readFile(v2, "utf8")).trim();
  if (got !== `${quotaUs} ${periodUs}`)
    throw new Error(`${v2} reads "${got}" after writing ${quotaUs} ${periodUs}`);
}

/** The box cgroup's CFS quota in microseconds per period (-1: none), or undefined where it cannot be read. */
export function cpuQuota(cgroupsPath: string): number | undefined {
  const v1 = readNumber(join(cgroupRoot, "cpu", cgroupsPath, "cpu.cfs_quota_us"));
  if (v1 !== undefined) return v1;
  try {
    const [q] = readFileSync(join(cgroupRoot, cgroupsPath, "cpu.max"), "utf8")
      .trim()
      .split(" ");
    return q === "max" ? -1 : Number(q);
  } catch {
    return undefined;
  }
}
