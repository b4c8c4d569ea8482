// The OCI bundle config of a box. Init runs as root with the box's
// capability set (capabilities.ts); everything a person runs comes in later through
// `runsc exec` as uid 1000. Limits: memory and CPU through the box's cgroup,
// RLIMIT_NPROC against fork bombs (a pids cgroup limit kills the whole
// sandbox under gVisor, so it is only a generous backstop).

import type { BoxSpec } from "../runtime.ts";
import type { BoxPaths } from "./box-paths.ts";
import { execCapabilities } from "./capabilities.ts";

export const boxInitPath = "/.boxyard/init";
export const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const defaultMaxProcesses = 512;

/** See capabilities.ts for why init holds more than runsc's default three. */
const initCaps = execCapabilities;

export interface OciSpecInput {
  spec: BoxSpec;
  paths: BoxPaths;
  boxinitHostPath: string;
  cgroupsPath: string;
  /** The box's netns from BoxNetworks; absent: runsc gives the sandbox a fresh, empty one. */
  netnsPath?: string;
  /**
   * The box's host memory cgroup dir: its usage and stat files are
   * bind-mounted read-only for boxinit's OOM guard. (runsc creates the
   * cgroup, and sets its limit, before the gofer opens mount sources.)
   */
  memoryCgroupDir?: string;
  /**
   * The image has /usr/bin/sudo: boxinit is mounted over it. runsc sets
   * no_new_privs on every box process, so the setuid binary cannot work;
   * boxinit's sudo mode asks init to run the command as root when the
   * image's sudoers allow it without a password (boxinit.c).
   */
  sudoShim?: boolean;
  /** PID 1's exec port token (box-exec-port.ts); only PID 1 sees it, and it wipes it from its environment. */
  execToken?: string;
  /**
   * CPUs the sandbox may use while `runsc run` or `restore` brings it up,
   * when more than the box's own (GvisorRuntimeOptions.bootCpu); the driver
   * sets the box's limit on its cgroup as soon as runsc returns.
   */
  bootCpu?: number;
}

/** CFS bandwidth period of every box (100 ms, the kernel's default). */
export const CPU_PERIOD_US = 100_000;

/** A box's CFS quota for `cpu` CPUs (at least 1 ms per period). */
export function cpuQuotaUs(cpu: number): number {
  return Math.max(1000, Math.round(cpu * CPU_PERIOD_US));
}

export const sudoPath = "/usr/bin/sudo";

/** Where boxinit's OOM guard reads the box's host memory cgroup (boxinit.c). */
export const memoryCgroupFiles = ["memory.usage_in_bytes", "memory.stat"] as const;

/** A tmpfs cap: 1/`fraction` of the box's memory, in MiB. */
function tmpfsMiB(spec: BoxSpec, fraction: number): number {
  return Math.max(1, Math.floor(spec.resources.memoryMiB / fraction));
}

export function buildOciSpec(input: OciSpecInput): object {
  const { spec, paths } = input;
  const nproc = spec.resources.maxProcesses ?? defaultMaxProcesses;
  return {
    ociVersion: "1.0.0",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [boxInitPath],
      env: [defaultPath, ...(input.execToken ? [`BOXYARD_EXEC_TOKEN=${input.execToken}`] : [])],
      cwd: "/",
      // Init starts people's commands (boxinit exec), which inherit this.
      // (runsc 0.0~20240729 sets no_new_privs anyway, hence sudoShim.)
      noNewPrivileges: false,
      capabilities: { bounding: initCaps, effective: initCaps, permitted: initCaps },
      rlimits: [
        { type: "RLIMIT_NOFILE", hard: 1_048_576, soft: 1_048_576 },
        { type: "RLIMIT_NPROC", hard: nproc, soft: nproc },
      ],
    },
    root: { path: paths.rootfs, readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs" },
      // tmpfs lives in the box's memory, and under gVisor a tmpfs that fills
      // the memory cgroup ends the whole box (the sentry holds those pages,
      // so the host OOM killer picks it). With caps the writer gets an error
      // instead: /tmp half the memory (Linux's tmpfs default), /dev/shm a
      // quarter. (runsc ignores a size on /dev itself; only root writes there.)
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=1777", `size=${tmpfsMiB(spec, 4)}m`],
      },
      {
        destination: "/tmp",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=1777", `size=${tmpfsMiB(spec, 2)}m`],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      {
        destination: "/home/dev",
        type: "bind",
        source: paths.home,
        options: ["rbind", "rw", "nosuid", "nodev"],
      },
      {
        destination: "/workspace",
        type: "bind",
        source: paths.workspace,
        options: ["rbind", "rw", "nosuid", "nodev"],
      },
      { destination: boxInitPath, type: "bind", source: input.boxinitHostPath, options: ["rbind", "ro"] },
      ...(input.sudoShim
        ? [{ destination: sudoPath, type: "bind", source: input.boxinitHostPath, options: ["rbind", "ro"] }]
        : []),
      ...(input.memoryCgroupDir
        ? memoryCgroupFiles.map((f) => ({
            destination: `/.boxyard/${f}`,
            type: "bind",
            source: `${input.memoryCgroupDir}/${f}`,
            options: ["bind", "ro"],
          }))
        : []),
      {
        destination: "/run/boxyard",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=755", "size=16m"],
      },
    ],
    linux: {
      namespaces: [
        { type: "pid" },
        input.netnsPath ? { type: "network", path: input.netnsPath } : { type: "network" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: {
        memory: { limit: spec.resources.memoryMiB * 1024 * 1024 },
        cpu: { quota: cpuQuotaUs(Math.max(spec.resources.cpu, input.bootCpu ?? 0)), period: CPU_PERIOD_US },
        // Each guest process costs several host pids; this only stops a runaway sentry.
        pids: { limit: Math.max(4096, nproc * 16) },
      },
    },
  };
}
