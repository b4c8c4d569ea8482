// What the issue-9 cases share: the context run.ts hands them, statistics, a
// raw-runsc floor that can also checkpoint/restore, and process memory.
import { execFile, spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { removeCgroups, setCpuQuota } from "../../internal/runtime/src/gvisor/cgroups.ts";
import { CPU_PERIOD_US, cpuQuotaUs } from "../../internal/runtime/src/gvisor/oci-spec.ts";
import type { DebianUpstream } from "./create-debian.ts";

export const run = promisify(execFile);

/** The parts of run.ts's Api the cases use (structural, so run.ts need not export it). */
export interface BenchApi {
  readonly url: string;
  // biome-ignore lint/suspicious/noExplicitAny: API answers are walked loosely here.
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  until(box: string, state: string, timeoutMs?: number): Promise<void>;
  /** Opens the box's event stream; `reached` resolves at its next transition to `state`. */
  nextTransition(box: string, state: string): Promise<{ reached: Promise<void> }>;
  /** Resolves once the box runs at its latest generation, watched through its event stream; throws if it fails. */
  /** `echo ready` through the API; waitSeconds lets a box that is starting or resuming finish first. */
  exec(box: string, opts?: { waitSeconds?: number }): Promise<string>;
}

export interface CaseContext {
  api: BenchApi;
  /** The bench's temporary directory; each case makes its own subdirectory. */
  work: string;
  /** The server's --data-dir (the node's runsc root is under it). */
  dataDir: string;
  dbUrl: string;
  /** The busybox image layer the boxes use, as a read-only rootfs for raw sandboxes. */
  rootfs: string;
  serverPid: number;
  /** A layer's directory in the layer store the server uses. */
  layerPath: (digest: string) => string;
  /** Whether BENCH_ONLY selects a benchmark (cases with more than one row). */
  wanted?: (name: string) => boolean;
  /** The run's git server, when create-debian is selected (the server's box uplink leads to it). */
  gitUpstream?: DebianUpstream;
}

export interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface CaseResult {
  boxyard: Stats;
  floor: Stats;
  /** Left 0 for run.ts to fill in as boxyard p50 / floor p50. */
  ratio: number;
  unit: string;
  /** Case-specific figures (throughput, totals, memory split) for latest.json. */
  extra?: Record<string, number | string>;
}

export interface CaseOutput {
  results: Record<string, CaseResult>;
  /** Lines printed under the table. */
  notes: string[];
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return {
    n: s.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
  };
}

export function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function envInt(name: string, dflt: number): number {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

/** The node's runsc root inside the server's data dir. */
export function nodeRunscRoot(dataDir: string): string {
  return join(dataDir, "node", "boxes", "runsc");
}

/** `runsc list` ids under a root (-quiet: a full list waits on any frozen, hot-paused, sandbox). */
export async function runscIds(root: string): Promise<string[]> {
  const out = await run("runsc", [`--root=${root}`, "list", "-quiet"]).catch(() => ({ stdout: "" }));
  return out.stdout.split("\n").filter(Boolean);
}

/** Until the box is running at its generation; a timeout names the state it was left in. */
export async function waitRunning(api: BenchApi, name: string, timeoutMs = 180_000): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: API answers are walked loosely here.
  let b: any;
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(50)) {
    b = (await api.call("GET", `/api/v1/orgs/bench/boxes/${name}`)).body;
    if (b?.actualState === "running" && b.observedGeneration === b.generation) return;
    if (b?.actualState === "failed") break;
  }
  throw new Error(
    `${name} is not running: ${b?.actualState ?? JSON.stringify(b)} (generation ${b?.observedGeneration}/${b?.generation}, node ${b?.node}, lastError ${JSON.stringify(b?.lastError)})`,
  );
}

/** Boxes created for a case; deleted through the API (the node releases what they took) even on failure. */
export async function deleteBoxes(api: BenchApi, names: string[]): Promise<void> {
  const del = (n: string) => api.call("DELETE", `/api/v1/orgs/bench/boxes/${n}`).catch(() => {});
  await Promise.all(names.map(del));
  // One list poll for all of them: n pollers would load the server they wait on.
  for (let i = 1, until = Date.now() + 300_000; Date.now() < until; i++, await sleep(500)) {
    const list = await api.call("GET", "/api/v1/orgs/bench/boxes?limit=200").catch(() => undefined);
    if (list?.status !== 200) continue;
    const left = (list.body.items as Array<{ name: string; desiredState: string }>).filter((b) =>
      names.includes(b.name),
    );
    if (!left.length) return;
    // A delete refused under load (409 while the box changed, 429) is asked again.
    if (i % 10 === 0)
      await Promise.all(left.filter((b) => b.desiredState !== "deleted").map((b) => del(b.name)));
  }
  progress(`some of ${names.length} boxes were not deleted within 300 s`);
}

// ---- the raw floor: runsc by hand, with checkpoint and restore ----------

/**
 * What makes a raw sandbox like a box beyond its limits (resume-cold's floor):
 * `overlayRoot` gives each sandbox a writable host overlayfs over the image
 * layer as its root, with runsc's own overlay off, as the driver does;
 * `sandboxNetwork` gives it a netns of its own with a veth and an address
 * (`--network=sandbox --net-disconnect-ok`), started with the mount-namespace
 * wrapper of machine-notes.md that this machine needs for it.
 */
export interface RawFloorOptions {
  overlayRoot?: boolean;
  sandboxNetwork?: boolean;
  /**
   * CPUs the sandbox gets while `runsc run` or `restore` runs, its limit
   * set on its cgroup when runsc returns: what the driver does for a box
   * (GvisorRuntimeOptions.bootCpu; benchBootCpu()), so that the floor's
   * cgroup is the box's at every moment.
   */
  bootCpu?: number;
  /**
   * How long the sandbox keeps the boot CPU after runsc returns, in
   * milliseconds, as a box keeps it (GvisorRuntimeOptions.bootCpuGraceMs;
   * benchBootCpuGraceMs()); 0: the limit as soon as runsc returns.
   */
  bootCpuGraceMs?: number;
}

/** The boot CPU the bench's server gives boxes (BOXYARD_BOOT_CPU, default 2): the floors do the same. */
export function benchBootCpu(): number {
  return Number(process.env.BOXYARD_BOOT_CPU ?? "2");
}

/** How long the bench's server lets boxes keep it (BOXYARD_BOOT_CPU_GRACE, default 5 s), in milliseconds. */
export function benchBootCpuGraceMs(): number {
  return Number(process.env.BOXYARD_BOOT_CPU_GRACE ?? "5") * 1000;
}

export class RawFloor {
  readonly root: string;
  readonly ids = new Set<string>();
  /** Sandboxes in their boot CPU grace: the timer that sets their limit. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  /** The floor's own netns (sandboxNetwork), made on the first start and removed by destroyAll. */
  private netns?: string;
  /** Every netns name this floor made, for the census. */
  private readonly netnsMade: string[] = [];
  /**
   * `limits`: the box's CPU and memory as cgroup limits of each raw sandbox,
   * so that the floor does the same work under the same quota as the box it
   * is compared with (a restore under a quarter of a CPU takes about four
   * times as long).
   */
  constructor(
    readonly dir: string,
    private readonly rootfs: string,
    private readonly limits?: { cpu: number; memoryMiB: number },
    private readonly opts: RawFloorOptions = {},
  ) {
    this.root = join(dir, "runsc");
  }

  private get globalArgs(): string[] {
    return [
      `--root=${this.root}`,
      "--platform=systrap",
      ...(this.opts.sandboxNetwork ? ["--network=sandbox", "--net-disconnect-ok"] : ["--network=none"]),
      ...(this.opts.overlayRoot ? ["--overlay2=none"] : []),
    ];
  }

  private runsc(args: string[]) {
    return run("runsc", [...this.globalArgs, ...args], {
      maxBuffer: 1 << 20,
      timeout: 120_000,
    });
  }

  /** A netns with lo and a veth (eth0, 10.231.0.2/24) whose host end stays unattached. */
  private async ensureNetns(): Promise<string> {
    if (this.netns) return this.netns;
    const name = `bycf${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
    this.netns = name;
    this.netnsMade.push(name);
    await run("ip", ["netns", "add", name]);
    await run("ip", ["link", "add", `${name}h`, "type", "veth", "peer", "name", "eth0", "netns", name]);
    await run("ip", ["link", "set", `${name}h`, "up"]);
    await this.resetNetns();
    return name;
  }

  /** netstack takes the address off the veth: put it back before each start (untimed), as the driver does. */
  private async resetNetns(): Promise<void> {
    if (!this.netns) return;
    const ns = this.netns;
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns, "addr", "replace", "10.231.0.2/24", "dev", "eth0"]);
    await run("ip", ["-n", ns, "route", "replace", "default", "via", "10.231.0.1"]);
  }

  private async overlayRootOf(id: string): Promise<string> {
    const base = join(this.dir, `${id}-root`);
    const target = join(base, "merged");
    if (!(await readFile("/proc/mounts", "utf8")).split("\n").some((l) => l.split(" ")[1] === target)) {
      for (const d of ["upper", "work", "merged"]) await mkdir(join(base, d), { recursive: true });
      await run("mount", [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${this.rootfs},upperdir=${join(base, "upper")},workdir=${join(base, "work")}`,
        target,
      ]);
    }
    return target;
  }

  bundlePath(id: string): string {
    return join(this.dir, id);
  }

  private async bundle(id: string): Promise<string> {
    const b = this.bundlePath(id);
    await mkdir(b, { recursive: true });
    const root = this.opts.overlayRoot
      ? { path: await this.overlayRootOf(id), readonly: false }
      : { path: this.rootfs, readonly: true };
    const netns = this.opts.sandboxNetwork ? await this.ensureNetns() : undefined;
    await writeFile(
      join(b, "config.json"),
      JSON.stringify({
        ociVersion: "1.0.0",
        process: {
          user: { uid: 0, gid: 0 },
          args: ["/bin/sleep", "100000"],
          env: ["PATH=/bin:/usr/bin"],
          cwd: "/",
        },
        root,
        hostname: id,
        mounts: [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/tmp", type: "tmpfs", source: "tmpfs" },
        ],
        linux: {
          namespaces: [
            { type: "pid" },
            { type: "ipc" },
            { type: "uts" },
            { type: "mount" },
            ...(netns ? [{ type: "network", path: `/var/run/netns/${netns}` }] : []),
          ],
          ...(this.limits
            ? {
                resources: {
                  cpu: { quota: cpuQuotaUs(this.bootCpuOf()), period: CPU_PERIOD_US },
                  memory: { limit: this.limits.memoryMiB * 1024 * 1024 },
                },
              }
            : {}),
        },
      }),
    );
    return b;
  }

  /**
   * `runsc run --detach` (or `restore --detach` from imagePath) with no stdio of ours to hold open.
   * runsc takes an id's unique prefix too ("b1" is ambiguous beside "b10"): give ids of equal length.
   */
  async start(id: string, imagePath?: string): Promise<void> {
    this.ids.add(id);
    const bundle = await this.bundle(id);
    const sub = imagePath
      ? ["restore", "--detach", `--image-path=${imagePath}`, `--bundle=${bundle}`, id]
      : ["run", "--detach", `--bundle=${bundle}`, id];
    const argv = ["runsc", ...this.globalArgs, ...sub];
    // runsc refuses a netns that shows /proc/sys/net/core/rmem_default: the driver's recipe (machine-notes.md).
    const cmd = this.netns
      ? [
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          'ns="$1"; shift; nsenter --net="$ns" mount -t tmpfs -o size=4k floor-hide /proc/sys/net/core && exec "$@"',
          "sh",
          `/var/run/netns/${this.netns}`,
          ...argv,
        ]
      : argv;
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(cmd[0] as string, cmd.slice(1), { stdio: "ignore" });
      child.on("error", reject);
      child.on("exit", resolve);
    });
    if (code !== 0) throw new Error(`runsc ${sub[0]} ${id} exited with ${code}`);
    // Up: the box's own limit from here on, or once the grace has passed, as the driver sets it (runsc's
    // cgroup for a spec without a cgroupsPath is /ID).
    if (this.limits && this.bootCpuOf() > this.limits.cpu) {
      const quota = cpuQuotaUs(this.limits.cpu);
      const graceMs = this.opts.bootCpuGraceMs ?? 0;
      if (graceMs <= 0) await setCpuQuota(`/${id}`, quota, CPU_PERIOD_US);
      else {
        this.endGrace(id);
        const timer = setTimeout(() => {
          this.graceTimers.delete(id);
          void setCpuQuota(`/${id}`, quota, CPU_PERIOD_US).catch(() => {});
        }, graceMs);
        timer.unref();
        this.graceTimers.set(id, timer);
      }
    }
  }

  private endGrace(id: string): void {
    clearTimeout(this.graceTimers.get(id));
    this.graceTimers.delete(id);
  }

  /** The CPU share runsc gets in the bundle: the boot share when larger than the limit. */
  private bootCpuOf(): number {
    return Math.max(this.limits?.cpu ?? 0, this.opts.bootCpu ?? 0);
  }

  /** `runsc exec` of `argv` (default `echo ready`); `user` as "uid:gid", `cwd` and `env` as runsc takes them. */
  async exec(
    id: string,
    argv: string[] = ["/bin/echo", "ready"],
    opts: { user?: string; cwd?: string; env?: string[] } = {},
  ): Promise<string> {
    const flags = [
      ...(opts.user ? [`--user=${opts.user}`] : []),
      ...(opts.cwd ? [`--cwd=${opts.cwd}`] : []),
      ...(opts.env ?? []).map((e) => `--env=${e}`),
    ];
    return (await this.runsc(["exec", ...flags, id, ...argv])).stdout;
  }

  pause(id: string) {
    return this.runsc(["pause", id]);
  }

  resume(id: string) {
    return this.runsc(["resume", id]);
  }

  /** `runsc checkpoint`; the sandbox then exits: wait for that and release its entry, as the runtime does. */
  async checkpoint(id: string, imagePath: string): Promise<void> {
    this.endGrace(id);
    await rm(imagePath, { recursive: true, force: true });
    await mkdir(imagePath, { recursive: true });
    await this.runsc(["checkpoint", `--image-path=${imagePath}`, id]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const st = await this.runsc(["state", id]).then(
        (r) => JSON.parse(r.stdout).status as string,
        () => "gone",
      );
      if (st === "stopped" || st === "gone") break;
      if (Date.now() > deadline) throw new Error(`raw sandbox ${id} did not exit after its checkpoint`);
      await sleep(10);
    }
    await this.runsc(["delete", "--force", id]).catch(() => {});
    await this.removeCgroups(id);
    await this.resetNetns();
  }

  /**
   * runsc can leave the sandbox's cgroup behind, and a restore into an
   * existing one keeps its quota (the limit set after the last start, not the
   * boot CPU): removed as the driver removes a box's.
   */
  private async removeCgroups(id: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await removeCgroups(`/${id}`);
        return;
      } catch {
        await sleep(20);
      }
    }
  }

  /** Host processes of one sandbox: its sentry and gofer and their children (systrap stubs). */
  async pids(id: string): Promise<number[]> {
    const arg = `--bundle=${this.bundlePath(id)}`;
    return sandboxPids(this.root, (a) => a === arg);
  }

  async destroy(id: string): Promise<void> {
    this.endGrace(id);
    await this.runsc(["delete", "--force", id]).catch(() => {});
    await this.removeCgroups(id);
    const merged = join(this.dir, `${id}-root`, "merged");
    if ((await readFile("/proc/mounts", "utf8")).split("\n").some((l) => l.split(" ")[1] === merged))
      await run("umount", [merged]).catch(() => run("umount", ["-l", merged]));
    await rm(join(this.dir, `${id}-root`), { recursive: true, force: true });
    await rm(join(this.dir, id), { recursive: true, force: true });
    this.ids.delete(id);
  }

  async destroyAll(): Promise<void> {
    for (const id of [...this.ids]) await this.destroy(id);
    for (const id of await runscIds(this.root)) await this.runsc(["delete", "--force", id]).catch(() => {});
    if (this.netns) {
      await run("ip", ["netns", "del", this.netns]).catch(() => {});
      await run("ip", ["link", "del", `${this.netns}h`]).catch(() => {});
      this.netns = undefined;
    }
  }

  /** Leak census: no sandbox, no process and no mount of this floor is left. */
  async census(): Promise<string[]> {
    const left: string[] = [];
    for (const id of await runscIds(this.root)) left.push(`raw sandbox ${id}`);
    for (const p of await processTable())
      if (p.argv.some((a) => a.includes(this.dir))) left.push(`process ${p.pid} ${p.argv.join(" ")}`);
    for (const line of (await readFile("/proc/mounts", "utf8")).split("\n"))
      if (line.split(" ")[1]?.startsWith(this.dir)) left.push(`mount ${line}`);
    const netns = (await run("ip", ["netns", "list"]).catch(() => ({ stdout: "" }))).stdout;
    for (const line of netns.split("\n"))
      if (this.netnsMade.includes(line.split(" ")[0] ?? "")) left.push(`netns ${line}`);
    return left;
  }
}

/**
 * A read-only overlayfs of image layers (lowest first, as a box's root has
 * them) at `target`, for raw sandboxes of a multi-layer rootfs. Without an
 * upper dir overlayfs needs at least two layers; one is returned as is.
 */
export async function mountLayers(layers: string[], target: string): Promise<string> {
  if (layers.length === 1) return layers[0]!;
  await mkdir(target, { recursive: true });
  const lowerdir = [...layers].reverse().join(":");
  await run("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${lowerdir}`, target]);
  return target;
}

/** Unmounts what mountLayers mounted (nothing when it is not a mount point). */
export async function unmountLayers(target: string): Promise<void> {
  const mounted = (await readFile("/proc/mounts", "utf8"))
    .split("\n")
    .some((l) => l.split(" ")[1] === target);
  if (mounted) await run("umount", [target]);
}

// ---- processes and their memory ----------------------------------------

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

export async function processTable(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const [cmd, stat] = await Promise.all([
        readFile(`/proc/${name}/cmdline`, "utf8"),
        readFile(`/proc/${name}/stat`, "utf8"),
      ]);
      // The command name may hold spaces and parentheses: ppid follows the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.push({ pid: Number(name), ppid, argv: cmd.split("\0").filter(Boolean) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function withDescendants(table: Proc[], roots: number[]): number[] {
  const seen = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table)
      if (seen.has(p.ppid) && !seen.has(p.pid)) {
        seen.add(p.pid);
        grew = true;
      }
  }
  return [...seen];
}

/** The long-lived processes of one sandbox (sentry, gofer, stubs): runsc argv with its root and a matching `--bundle=` arg. */
export async function sandboxPids(root: string, bundleArg: (arg: string) => boolean): Promise<number[]> {
  const table = await processTable();
  const roots = table
    .filter(
      (p) =>
        p.argv.includes(`--root=${root}`) && p.argv.some((a) => a.startsWith("--bundle=") && bundleArg(a)),
    )
    .map((p) => p.pid);
  return withDescendants(table, roots);
}

/** A process tree, leaving out sandboxes (runsc processes) that were started from it. */
export async function treePids(pid: number): Promise<number[]> {
  const table = await processTable();
  const runscs = new Set(table.filter((p) => /runsc/.test(p.argv[0] ?? "")).map((p) => p.pid));
  const kept = table.filter((p) => !runscs.has(p.pid));
  return withDescendants(kept, [pid]);
}

/** RSS and PSS in MiB summed over processes (smaps_rollup; processes gone meanwhile count 0). */
export async function memoryOf(pids: number[]): Promise<{ rss: number; pss: number }> {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
    rss += Number(/^Rss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
    pss += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}
