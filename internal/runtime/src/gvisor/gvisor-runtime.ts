// The gVisor driver: every box is a runsc sandbox (systrap platform, netstack
// in the box's own netns) whose root is a host overlayfs over the shared
// image layers, with its writable data on a size-limited loop disk. The
// sandbox is started detached, so it is not a child of the agent and keeps
// running when the agent dies; a new driver object re-adopts it from the box
// record on disk plus `runsc state`. A hot pause freezes the sandbox's cgroup
// (no runsc process on the pause or resume path); a frozen sandbox reads as
// paused from its cgroup, and no runsc command that calls into its sentry
// runs until it is thawed.

import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { LayerStore } from "@boxyard/images";
import type { BoxNetworks } from "@boxyard/netns";
import {
  assertBoxId,
  BoxNotFoundError,
  CheckpointRefusedError,
  ImageLayerMissingError,
  InvalidBoxStateError,
  ResourcesExceedLimitsError,
  SandboxError,
} from "../errors.ts";
import type {
  BoxId,
  BoxIdentity,
  BoxObservation,
  BoxSpec,
  ExecOptions,
  ExecResult,
  Runtime,
  Session,
  SessionOptions,
} from "../runtime.ts";
import { waitFor } from "../wait-for.ts";
import { execInBox } from "./box-exec.ts";
import { endPortExecs, newExecToken, prewarmPort } from "./box-exec-port.ts";
import { applyIdentityInSandbox, assertIdentity, writeMachineId } from "./box-identity.ts";
import { observeBox } from "./box-observation.ts";
import { type BoxPaths, boxPaths } from "./box-paths.ts";
import { captureBoxChanges } from "./box-capture.ts";
import { type BoxRecord, type RecordedPhase, readRecord, writeRecord } from "./box-record.ts";
import {
  clearSecretsInSandbox,
  forgetSecrets,
  mayHoldSecrets,
  writeSecretsInSandbox,
} from "./box-secrets.ts";
import { openSession } from "./box-session.ts";
import {
  createBoxStorage,
  ensureBoxStorage,
  exists,
  isRegularFile,
  releaseBoxStorage,
} from "./box-storage.ts";
import { ensureBoxinit } from "./boxinit-binary.ts";
import {
  freeze,
  freezerState,
  frozenSandboxPid,
  memoryCgroupDir,
  preferStubsAsOomVictims,
  removeCgroups,
  cpuQuota,
  setCpuQuota,
  thaw,
} from "./cgroups.ts";
import { KeyedLock } from "./keyed-lock.ts";
import { buildOciSpec, CPU_PERIOD_US, cpuQuotaUs, sudoPath } from "./oci-spec.ts";
import { Runsc, type SandboxState } from "./runsc.ts";

/** A sandbox as the driver sees it: runsc's state, or paused when the driver froze its cgroup. */
type Sandbox = SandboxState & { frozen?: boolean };

export interface GvisorRuntimeOptions {
  /** Root of everything this driver keeps on the node (boxes, runsc state, boxinit). */
  stateDir: string;
  layers: LayerStore;
  /** The node's box networks; without it boxes run with `--network=none`. */
  network?: BoxNetworks;
  /**
   * runsc's network mode when `network` is absent. A process that only opens
   * sessions in boxes another process created (the gateway) says `sandbox`.
   */
  networkMode?: "sandbox" | "none";
  runscPath?: string;
  /** runsc platform; systrap works on these machines (machine-notes.md). */
  platform?: string;
  /** Parent of every box cgroup, on each v1 controller. */
  cgroupParent?: string;
  /** Largest box this node accepts. */
  limits?: { cpu?: number; memoryMiB?: number; diskGiB?: number };
  /** Let sparse box disks promise more than the node's free space. */
  allowDiskOvercommit?: boolean;
  /** How long stop waits after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  /**
   * A cold pause aborts the box's open TCP connections (the box's processes
   * see ECONNABORTED after the resume) instead of refusing to save them.
   * Default true; false behaves like sandboxes started by older drivers.
   */
  netDisconnectOk?: boolean;
  /**
   * CPUs a box may use while `runsc run` or `runsc restore` brings it up
   * (default 2), when more than its own: the box's limit is set on its cgroup
   * as soon as runsc returns. A restore under a quarter CPU takes about six
   * times as long as under two (bench/README.md); 0 keeps the box's own
   * limit from the start.
   */
  bootCpu?: number;
  /**
   * How long a box keeps the boot share after runsc returns, in milliseconds
   * (default 5000): a box's first commands after a start or a resume (a shell,
   * an IDE reconnecting) are its busiest, and an exec under a quarter CPU
   * takes three times as long as under two (bench/README.md). 0 sets the
   * box's own limit as soon as runsc returns. A box whose limit cannot be set
   * when the grace ends is ended.
   */
  bootCpuGraceMs?: number;
}

/** GvisorRuntimeOptions.bootCpu's default. */
export const DEFAULT_BOOT_CPU = 2;
/** GvisorRuntimeOptions.bootCpuGraceMs's default. */
export const DEFAULT_BOOT_CPU_GRACE_MS = 5_000;

export class GvisorRuntime implements Runtime {
  readonly name = "gvisor";
  readonly stateDir: string;
  private readonly runsc: Runsc;
  private readonly lock = new KeyedLock();
  /** Boxes in their boot CPU grace: the pending change to their own limit (one per box, the latest boot's). */
  private readonly ownCpuPending = new Map<BoxId, { timer: NodeJS.Timeout }>();
  private readonly cgroupParent: string;

  constructor(private readonly opts: GvisorRuntimeOptions) {
    this.stateDir = opts.stateDir;
    this.cgroupParent = opts.cgroupParent ?? "boxyard";
    this.runsc = new Runsc({
      runscPath: opts.runscPath ?? "runsc",
      root: join(opts.stateDir, "runsc"),
      platform: opts.platform ?? "systrap",
      network: opts.network ? "sandbox" : (opts.networkMode ?? "none"),
      netDisconnectOk: opts.netDisconnectOk,
    });
  }

  /** The cgroup path (relative to each controller) of a box. */
  cgroupsPath(id: BoxId): string {
    return `/${this.cgroupParent}/${id}`;
  }

  async prepare(spec: BoxSpec): Promise<BoxObservation> {
    assertBoxId(spec.id);
    this.checkResources(spec);
    return this.lock.run(spec.id, async () => {
      const paths = boxPaths(this.stateDir, spec.id);
      const existing = await readRecord(paths.record);
      if (existing) {
        await ensureBoxStorage(paths, existing.layerDirs);
        return this.observe(spec.id, existing, await this.sandbox(spec.id));
      }
      // A prepare that crashed half-way left no record and no user data:
      // release whatever it took and start over (nothing to do for a new box).
      if (await exists(paths.dir)) await releaseBoxStorage(paths);
      // Pinned from the check to the record: the layer cache's garbage
      // collection then sees the layers as the box's (layersOfBoxes).
      const lease = await this.opts.layers.pin(spec.layers);
      try {
        return await this.prepareNew(spec, paths);
      } catch (err) {
        if (isNoSpace(err)) this.opts.layers.reportNoSpace();
        throw err;
      } finally {
        lease.release();
      }
    });
  }

  /** The layer store's user: registered so that a store shared by nodes keeps every node's layers. */
  async registerLayerUse(): Promise<void> {
    await this.opts.layers.registerUser(this.stateDir);
  }

  private async prepareNew(spec: BoxSpec, paths: BoxPaths): Promise<BoxObservation> {
    const layerDirs: string[] = [];
    for (const digest of spec.layers) {
      if (!(await this.opts.layers.has(digest))) throw new ImageLayerMissingError(digest);
      layerDirs.push(this.opts.layers.pathOf(digest));
    }
    await this.runsc.version();
    await ensureBoxinit(this.stateDir);
    // From here on a failure releases everything this call took (mounts,
    // loop device, box dir, network), so the node is as before.
    const hadNetwork = this.opts.network ? (await this.opts.network.get(spec.id)) !== null : false;
    try {
      await createBoxStorage({
        spec,
        paths,
        layerDirs,
        allowDiskOvercommit: this.opts.allowDiskOvercommit,
      });
      if (spec.machineId !== undefined) await writeMachineId(paths.rootfs, spec.machineId);
      const record: BoxRecord = { version: 1, spec, phase: "prepared", layerDirs, updatedAt: "" };
      if (this.opts.network) {
        const net = await this.opts.network.attach(spec.id, { egress: spec.network.egress });
        record.netnsPath = net.netnsPath;
        record.address = net.address;
        // A netns the attach configured itself is as a reset leaves it: the first boot skips the reset.
        if (net.configured) record.networkReady = true;
        // PID 1's exec port token (box-exec-port.ts): runsc forwards only to a box with a network,
        // and each exec leaves a TIME_WAIT endpoint in the box's netstack, which only a sandbox
        // that drops connections at a checkpoint (--net-disconnect-ok) can save.
        if (this.opts.netDisconnectOk !== false) record.execToken = newExecToken();
      }
      await writeRecord(paths.record, record);
      return this.observe(spec.id, record, null);
    } catch (err) {
      await releaseBoxStorage(paths).catch(() => {});
      if (this.opts.network && !hadNetwork) await this.opts.network.detach(spec.id).catch(() => {});
      throw err;
    }
  }

  async start(id: BoxId): Promise<BoxObservation> {
    return this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      if (st?.status === "running") return this.setPhase(paths, rec, "running", st);
      if (rec.phase === "paused" || rec.phase === "checkpointed" || st?.status === "paused") {
        throw new InvalidBoxStateError(
          id,
          st?.status === "paused" ? "paused" : rec.phase,
          "start (resume it instead)",
        );
      }
      await this.boot(id, paths, rec);
      return this.setPhase(paths, rec, "running", await this.sandbox(id));
    });
  }

  async stop(id: BoxId): Promise<BoxObservation> {
    return this.withRecord(id, async (paths, rec) => {
      await this.endSandbox(id, { graceful: true });
      await forgetSecrets(paths);
      await rm(paths.checkpoint, { recursive: true, force: true });
      const phase: RecordedPhase = rec.phase === "prepared" ? "prepared" : "stopped";
      return this.setPhase(paths, rec, phase, null);
    });
  }

  async pause(id: BoxId): Promise<BoxObservation> {
    return this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      if (st?.status === "paused") return this.setPhase(paths, rec, "paused", st);
      if (st?.status !== "running") throw new InvalidBoxStateError(id, this.phaseOf(rec, st), "pause");
      // Without a freezer (or with a process that will not freeze) the sentry stops its own tasks.
      if (await freeze(this.cgroupsPath(id)))
        return this.setPhase(paths, rec, "paused", { status: "paused", pid: st.pid, frozen: true });
      await this.runsc.pause(id);
      return this.setPhase(paths, rec, "paused", await this.sandbox(id));
    });
  }

  /**
   * Cold pause. The sandbox is paused first and saved with --leave-running,
   * so a save that fails leaves the box as it was (running or hot-paused,
   * every process kept) and nothing runs between a successful save and the
   * end of the sandbox. Open TCP connections are aborted by the save (see
   * RunscOptions.netDisconnectOk).
   */
  async checkpoint(id: BoxId): Promise<BoxObservation> {
    return this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      const live = st?.status === "running" || st?.status === "paused";
      if (rec.phase === "checkpointed" && !live) return this.observe(id, rec, null);
      if (!live) throw new InvalidBoxStateError(id, this.phaseOf(rec, st), "checkpoint");
      const before = st?.status === "paused" ? "paused" : "running";
      // runsc checkpoint (and ps, exec, kill) call into the sentry: a frozen
      // box is thawed and paused by its sentry instead, so it runs only for
      // that one command. A refused save leaves it paused that way.
      if (st?.frozen) await this.sentryPause(id, st);
      // Secrets never enter a checkpoint: removed first, delivered again after the restore.
      await this.clearSecrets(id, paths, before === "paused");
      await this.endExecSessions(id, before === "paused");
      if (before === "running") await this.runsc.pause(id);
      await rm(paths.checkpoint, { recursive: true, force: true });
      await sweepSpentCheckpoints(paths.checkpoint);
      await mkdir(paths.checkpoint, { mode: 0o700 });
      try {
        await this.runsc.checkpoint(id, paths.checkpoint, { leaveRunning: true });
      } catch (err) {
        await rm(paths.checkpoint, { recursive: true, force: true });
        const after = await this.sandbox(id, { fresh: true });
        if (after?.status === "running" || after?.status === "paused") {
          if (before === "running") await this.runsc.resume(id);
          await this.setPhase(paths, rec, before, await this.sandbox(id));
          throw new CheckpointRefusedError(id, before, checkpointFailure(err), { cause: err });
        }
        // Not expected with --leave-running; if the sandbox is gone anyway,
        // release it and record the box as stopped (disks intact).
        await this.endSandbox(id, { graceful: false });
        await this.setPhase(paths, rec, "stopped", null);
        throw new SandboxError(
          `checkpoint of box ${id} failed and its sandbox exited; the box is stopped: ${(err as Error).message}`,
          { cause: err },
        );
      }
      // Saved: end the still-paused sandbox (never resumed) and release its cgroups.
      await this.endSandbox(id, { graceful: false });
      // The restore then finds the netns as a sandbox needs it (netstack took the address off its veth).
      if (this.opts.network)
        rec.networkReady = await this.opts.network.reset(id).then(
          () => true,
          () => undefined,
        );
      return this.setPhase(paths, rec, "checkpointed", null);
    });
  }

  async resume(id: BoxId): Promise<BoxObservation> {
    return this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      if (st?.frozen) {
        await thaw(this.cgroupsPath(id));
        const running: SandboxState = { status: "running", pid: st.pid };
        this.runsc.assume(id, running);
        return this.setPhase(paths, rec, "running", running);
      }
      if (st?.status === "paused") {
        await this.runsc.resume(id);
        return this.setPhase(paths, rec, "running", await this.sandbox(id));
      }
      if (st?.status === "running") return this.setPhase(paths, rec, "running", st);
      if (rec.phase !== "checkpointed") throw new InvalidBoxStateError(id, this.phaseOf(rec, st), "resume");
      await this.boot(id, paths, rec, { restore: true });
      const obs = await this.setPhase(paths, rec, "running", await this.sandbox(id));
      // The spent checkpoint (tens of MB) is removed off the resume's path: renamed now, so a next
      // checkpoint writes a fresh one; what a crash leaves is swept by the next checkpoint or the destroy.
      await discardCheckpoint(paths.checkpoint);
      return obs;
    });
  }

  async exec(id: BoxId, opts: ExecOptions): Promise<ExecResult> {
    const { rec, paths } = await this.runningBox(id, "exec");
    return execInBox(
      {
        runsc: this.runsc,
        id,
        scratchDir: paths.scratch,
        specEnv: rec.spec.env,
        execToken: rec.execToken,
        address: rec.address,
      },
      opts,
    );
  }

  async writeSecrets(id: BoxId, secrets: readonly { name: string; value: Buffer }[]): Promise<void> {
    // Under the box's lock, so no checkpoint runs between its scrub and this write.
    await this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      if (st?.status !== "running")
        throw new InvalidBoxStateError(id, this.phaseOf(rec, st), "write secrets");
      await writeSecretsInSandbox(
        { runsc: this.runsc, id, scratchDir: paths.scratch, execToken: rec.execToken, address: rec.address },
        paths,
        secrets,
      );
      return this.observe(id, rec, st);
    });
  }

  async session(id: BoxId, opts: SessionOptions): Promise<Session> {
    const { rec, paths } = await this.runningBox(id, "open a session");
    return openSession({ runsc: this.runsc, id, scratchDir: paths.scratch, specEnv: rec.spec.env }, opts);
  }

  async setIdentity(id: BoxId, identity: Required<BoxIdentity>): Promise<BoxObservation> {
    assertIdentity(identity);
    return this.withRecord(id, async (paths, rec) => {
      const st = await this.sandbox(id);
      // The record says what the sandbox has (it is written after the change): nothing to do twice.
      if (rec.spec.hostname === identity.hostname && rec.spec.machineId === identity.machineId)
        return this.observe(id, rec, st);
      if (st?.status === "running") await applyIdentityInSandbox(this.runsc, id, identity);
      else if (st?.status === "paused" || rec.phase === "checkpointed")
        throw new InvalidBoxStateError(id, st?.status ?? rec.phase, "set its identity");
      else {
        await ensureBoxStorage(paths, rec.layerDirs);
        await writeMachineId(paths.rootfs, identity.machineId);
      }
      rec.spec = { ...rec.spec, hostname: identity.hostname, machineId: identity.machineId };
      await writeRecord(paths.record, rec);
      return this.observe(id, rec, st);
    });
  }

  async captureLayer(id: BoxId): Promise<string> {
    assertBoxId(id);
    return this.lock.run(id, async () => {
      const paths = boxPaths(this.stateDir, id);
      const rec = await readRecord(paths.record);
      if (!rec) throw new BoxNotFoundError(id);
      const st = await this.sandbox(id);
      if (st || (rec.phase !== "stopped" && rec.phase !== "prepared"))
        throw new InvalidBoxStateError(id, st?.status ?? rec.phase, "capture a layer (stop it first)");
      await ensureBoxStorage(paths, rec.layerDirs);
      return this.opts.layers.publish((dir) => captureBoxChanges(paths, dir));
    });
  }

  async destroy(id: BoxId): Promise<void> {
    assertBoxId(id);
    await this.lock.run(id, async () => {
      const paths = boxPaths(this.stateDir, id);
      await this.endSandbox(id, { graceful: false });
      await releaseBoxStorage(paths);
      await this.opts.network?.detach(id);
    });
  }

  async inspect(id: BoxId): Promise<BoxObservation | null> {
    assertBoxId(id);
    const paths = boxPaths(this.stateDir, id);
    const rec = await readRecord(paths.record);
    const st = await this.sandbox(id).catch(() => null);
    // A box whose boot CPU grace began in an agent that is gone (a restart) is held to its limit now.
    if (rec && st?.status === "running" && !this.ownCpuPending.has(id)) {
      const quota = cpuQuota(this.cgroupsPath(id));
      if (quota !== undefined && (quota === -1 || quota > cpuQuotaUs(rec.spec.resources.cpu)))
        void this.lock
          .run(id, async () => {
            if (!this.ownCpuPending.has(id)) await this.holdToOwnCpu(id, rec.spec.resources.cpu);
          })
          .catch(() => {});
    }
    if (rec) return this.observe(id, rec, st);
    if (await exists(paths.dir))
      return { id, phase: "failed", reason: "prepare did not finish; destroy and prepare again" };
    if (st) return { id, phase: "failed", reason: "sandbox without a box record" };
    return null;
  }

  async list(): Promise<BoxObservation[]> {
    let ids: string[] = [];
    try {
      ids = (await readdir(join(this.stateDir, "boxes"))).filter((n) => /^[a-z0-9_]{1,32}$/.test(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    let sandboxes: string[] = [];
    try {
      sandboxes = await this.runsc.ids();
    } catch {
      // No runsc state dir yet: no sandboxes.
    }
    for (const sid of sandboxes) if (!ids.includes(sid) && /^[a-z0-9_]{1,32}$/.test(sid)) ids.push(sid);
    const out: BoxObservation[] = [];
    for (const id of ids.sort()) {
      const obs = await this.inspect(id);
      if (obs) out.push(obs);
    }
    return out;
  }

  // --- internals -----------------------------------------------------------

  private checkResources(spec: BoxSpec): void {
    const r = spec.resources;
    const l = this.opts.limits ?? {};
    const bad: string[] = [];
    if (!(r.cpu > 0) || (l.cpu !== undefined && r.cpu > l.cpu)) bad.push(`cpu ${r.cpu}`);
    if (!(r.memoryMiB >= 32) || (l.memoryMiB !== undefined && r.memoryMiB > l.memoryMiB))
      bad.push(`memoryMiB ${r.memoryMiB}`);
    if (!(r.diskGiB > 0) || (l.diskGiB !== undefined && r.diskGiB > l.diskGiB))
      bad.push(`diskGiB ${r.diskGiB}`);
    if (r.maxProcesses !== undefined && !(r.maxProcesses >= 16)) bad.push(`maxProcesses ${r.maxProcesses}`);
    if (bad.length > 0)
      throw new ResourcesExceedLimitsError(`box ${spec.id}: resources out of range: ${bad.join(", ")}`);
  }

  private async withRecord(id: BoxId, fn: (paths: BoxPaths, rec: BoxRecord) => Promise<BoxObservation>) {
    assertBoxId(id);
    return this.lock.run(id, async () => {
      const paths = boxPaths(this.stateDir, id);
      const rec = await readRecord(paths.record);
      if (!rec) throw new BoxNotFoundError(id);
      return fn(paths, rec);
    });
  }

  private async runningBox(id: BoxId, action: string): Promise<{ rec: BoxRecord; paths: BoxPaths }> {
    assertBoxId(id);
    const paths = boxPaths(this.stateDir, id);
    const rec = await readRecord(paths.record);
    if (!rec) throw new BoxNotFoundError(id);
    const st = await this.sandbox(id);
    if (st?.status !== "running") throw new InvalidBoxStateError(id, this.phaseOf(rec, st), action);
    return { rec, paths };
  }

  /** Removes the box's secret files (a paused box is thawed for it); throws rather than leave them. */
  private async clearSecrets(id: BoxId, paths: BoxPaths, paused: boolean): Promise<void> {
    if (!(await mayHoldSecrets(paths))) return;
    const rec = await readRecord(paths.record);
    const execToken = rec?.execToken;
    if (paused) await this.runsc.resume(id);
    try {
      await clearSecretsInSandbox(
        { runsc: this.runsc, id, scratchDir: paths.scratch, execToken, address: rec?.address },
        paths,
      );
    } finally {
      if (paused) await this.runsc.pause(id);
    }
  }

  /**
   * Ends the wrappers of open exec calls and sessions (their host pipes
   * cannot be restored: runsc restore then fails with "bad file number").
   * What they started belongs to init and is checkpointed with the box; a
   * terminal session sees a hang-up, as on a dropped connection. A paused
   * box runs only while that happens, and only when it has such wrappers.
   */
  private async endExecSessions(id: BoxId, paused: boolean): Promise<void> {
    await endPortExecs(id);
    const roots = await this.runsc.execRoots(id);
    if (roots.length === 0) return;
    if (paused) await this.runsc.resume(id);
    for (const pid of roots) await this.runsc.kill(id, "KILL", { pid }).catch(() => {});
    await waitFor(async () => ((await this.runsc.execRoots(id)).length === 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: `exec sessions of box ${id} to end before its checkpoint`,
    }).finally(async () => {
      if (paused) await this.runsc.pause(id);
    });
  }

  /** Mounts, bundle and network, then `runsc run` (or `restore`) detached. */
  private async boot(
    id: BoxId,
    paths: BoxPaths,
    rec: BoxRecord,
    opts: { restore?: boolean } = {},
  ): Promise<void> {
    // A stale sandbox entry (crashed, or left by a checkpoint) blocks reuse of the id.
    await this.endSandbox(id, { graceful: false });
    await ensureBoxStorage(paths, rec.layerDirs);
    const boxinit = await ensureBoxinit(this.stateDir);
    let netnsPath: string | undefined;
    if (this.opts.network) {
      const net =
        (await this.opts.network.get(id)) ??
        (await this.opts.network.attach(id, { egress: rec.spec.network.egress }));
      if (rec.networkReady) {
        // Used from here on: a failed start must not leave the record saying it is still clean.
        rec.networkReady = undefined;
        await writeRecord(paths.record, rec);
      } else await this.opts.network.reset(id);
      netnsPath = net.netnsPath;
      rec.netnsPath = net.netnsPath;
      rec.address = net.address;
    }
    // A fresh PID 1 gets the exec port's token (the prepare gave one; a record from before the
    // port gets one here); a restored one has the one it was saved with. runsc forwards to a
    // box's port only when it has a network (box-exec-port.ts).
    if (!opts.restore && !rec.execToken && netnsPath && this.opts.netDisconnectOk !== false) {
      rec.execToken = newExecToken();
      await writeRecord(paths.record, rec);
    }
    // More CPU while runsc brings the sandbox up (its own quota once it is up, below).
    const bootCpu = Math.max(rec.spec.resources.cpu, this.opts.bootCpu ?? DEFAULT_BOOT_CPU);
    const config = buildOciSpec({
      execToken: rec.execToken,
      spec: rec.spec,
      paths,
      boxinitHostPath: boxinit,
      cgroupsPath: this.cgroupsPath(id),
      netnsPath,
      memoryCgroupDir: memoryCgroupDir(this.cgroupsPath(id)),
      sudoShim: await isRegularFile(join(paths.rootfs, sudoPath)),
      bootCpu,
    });
    // At once, as the record is written (box-record.ts): small local files on the start's path.
    writeFileSync(join(paths.bundle, "config.json"), JSON.stringify(config, null, 2), { mode: 0o600 });
    mkdirSync(paths.scratch, { recursive: true, mode: 0o700 });
    try {
      await this.runsc.startDetached({
        id,
        bundle: paths.bundle,
        logPath: paths.runLog,
        netnsPath,
        imagePath: opts.restore ? paths.checkpoint : undefined,
        pidFile: join(paths.bundle, "sandbox.pid"),
      });
      // Up: the box's own CPU limit now, or once its grace ends. A box that cannot be held to it does not run.
      if (bootCpu > rec.spec.resources.cpu) {
        const graceMs = this.opts.bootCpuGraceMs ?? DEFAULT_BOOT_CPU_GRACE_MS;
        if (graceMs > 0) this.ownCpuLater(id, rec.spec.resources.cpu, graceMs);
        else
          try {
            await setCpuQuota(this.cgroupsPath(id), cpuQuotaUs(rec.spec.resources.cpu), CPU_PERIOD_US);
          } catch (err) {
            const message = `cannot set the CPU limit of box ${id} after its start: ${(err as Error).message}`;
            throw new SandboxError(message, { cause: err });
          }
      }
    } catch (err) {
      // Release the half-started sandbox so a retry starts clean.
      await this.endSandbox(id, { graceful: false }).catch(() => {});
      throw err;
    }
    const st = await this.sandbox(id);
    // Off the critical path (a start or resume is done once runsc is): a few
    // /proc writes that end within milliseconds; stubs cloned meanwhile
    // inherit the score or are caught by its second pass.
    if (st?.pid) void preferStubsAsOomVictims(this.cgroupsPath(id), st.pid).catch(() => {});
    // The first exec's connection, made while the start is reported (box-exec-port.ts).
    if (rec.execToken && netnsPath)
      prewarmPort({ runsc: this.runsc, id, token: rec.execToken, address: rec.address });
  }

  /** Sets the box's own CPU limit once `ms` have passed (its boot CPU grace), under its lock. */
  private ownCpuLater(id: BoxId, cpu: number, ms: number): void {
    this.cancelOwnCpu(id);
    const entry = {
      timer: setTimeout(() => {
        void this.lock
          .run(id, async () => {
            // A later boot (a stop and start, a cold pause and resume) has its own grace.
            if (this.ownCpuPending.get(id) !== entry) return;
            this.ownCpuPending.delete(id);
            await this.holdToOwnCpu(id, cpu);
          })
          .catch(() => {});
      }, ms),
    };
    entry.timer.unref();
    this.ownCpuPending.set(id, entry);
  }

  private cancelOwnCpu(id: BoxId): void {
    const pending = this.ownCpuPending.get(id);
    if (pending) clearTimeout(pending.timer);
    this.ownCpuPending.delete(id);
  }

  /**
   * Holds a running box to its own CPU limit when its cgroup allows more and
   * no grace is pending: the grace ended, or it began in an agent that is
   * gone (its timer went with it). A box that cannot be held to its limit
   * is ended. Nothing when the box has no cgroup (it is not running).
   */
  private async holdToOwnCpu(id: BoxId, cpu: number): Promise<void> {
    const cg = this.cgroupsPath(id);
    const quota = cpuQuota(cg);
    if (quota === undefined || (quota !== -1 && quota <= cpuQuotaUs(cpu))) return;
    try {
      await setCpuQuota(cg, cpuQuotaUs(cpu), CPU_PERIOD_US);
    } catch {
      if (cpuQuota(cg) !== undefined) await this.endSandbox(id, { graceful: false }).catch(() => {});
    }
  }

  /**
   * Ends the sandbox if there is one: SIGTERM to init (which passes it on)
   * and a deadline when `graceful`, then SIGKILL, `runsc delete`, and the
   * cgroups runsc may leave behind.
   */
  private async endSandbox(id: BoxId, opts: { graceful: boolean }): Promise<void> {
    this.cancelOwnCpu(id);
    let st: Sandbox | null = await this.sandbox(id);
    // runsc kill and delete call into the sentry, which must run for them.
    if (st?.frozen) {
      await thaw(this.cgroupsPath(id));
      st = { status: "running", pid: st.pid };
      this.runsc.assume(id, st);
    }
    if (st) {
      // A sandbox that is only killed stays paused (a checkpointed one must not run again).
      if (opts.graceful && st.status === "paused") await this.runsc.resume(id).catch(() => {});
      if (opts.graceful && (st.status === "running" || st.status === "paused")) {
        await this.runsc.kill(id, "TERM").catch(() => {});
        st = await waitFor(
          async () => {
            const s = await this.sandbox(id, { fresh: true });
            return s === null || s.status === "stopped" ? { s } : undefined;
          },
          { timeoutMs: this.opts.stopTimeoutMs ?? 10_000, what: `box ${id} to stop` },
        )
          .then((x) => x.s)
          .catch(() => st);
      }
      if (st && st.status !== "stopped") await this.runsc.kill(id, "KILL", { all: true }).catch(() => {});
      await this.runsc.delete(id).catch(async (err) => {
        if (await this.sandbox(id)) throw err;
      });
    }
    // The sandbox's processes take a moment to leave the cgroups after delete.
    await waitFor(
      async () => {
        try {
          await removeCgroups(this.cgroupsPath(id));
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000, what: `cgroups of box ${id} to empty` },
    ).catch((err: Error) => {
      throw new SandboxError(err.message);
    });
  }

  /**
   * What the sandbox is now. A frozen one is paused, read from its cgroup:
   * `runsc state` would call into its frozen sentry and wait until a thaw.
   */
  private async sandbox(id: BoxId, opts: { fresh?: boolean } = {}): Promise<Sandbox | null> {
    const freezer = freezerState(this.cgroupsPath(id));
    if (freezer === "FROZEN" || freezer === "FREEZING") {
      const pid = frozenSandboxPid(this.cgroupsPath(id));
      if (pid !== undefined) return { status: "paused", pid, frozen: true };
    }
    return this.runsc.state(id, opts);
  }

  /** Turns a frozen sandbox into one its sentry paused (`runsc pause`), for runsc commands that need the sentry. */
  private async sentryPause(id: BoxId, st: Sandbox): Promise<void> {
    await thaw(this.cgroupsPath(id));
    this.runsc.assume(id, { status: "running", pid: st.pid });
    await this.runsc.pause(id);
  }

  private observe(id: BoxId, rec: BoxRecord, st: SandboxState | null): Promise<BoxObservation> {
    return observeBox({ rec, st, paths: boxPaths(this.stateDir, id), cgroupsPath: this.cgroupsPath(id) });
  }

  private phaseOf(rec: BoxRecord, st: SandboxState | null): string {
    if (st && (st.status === "running" || st.status === "paused")) return st.status;
    // The record says live but the sandbox is gone (killed from outside): as observeBox says.
    if (rec.phase === "running" || rec.phase === "paused") return "failed";
    return rec.phase;
  }

  private async setPhase(paths: BoxPaths, rec: BoxRecord, phase: RecordedPhase, st: Sandbox | null) {
    if (rec.phase !== phase || phase === "running") {
      rec.phase = phase;
      await writeRecord(paths.record, rec);
    }
    return this.observe(rec.spec.id, rec, st);
  }
}

const SPENT = ".spent-";

/** Moves a restored checkpoint aside (a rename) and removes it in the background. */
async function discardCheckpoint(path: string): Promise<void> {
  const spent = `${path}${SPENT}${randomBytes(4).toString("hex")}`;
  try {
    await rename(path, spent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  void rm(spent, { recursive: true, force: true }).catch(() => {});
}

/** Removes restored checkpoints a crash left before their background removal ended. */
async function sweepSpentCheckpoints(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}${SPENT}`;
  for (const name of await readdir(dir).catch(() => [] as string[]))
    if (name.startsWith(prefix)) await rm(join(dir, name), { recursive: true, force: true });
}

/** Why runsc could not save a box, in words for its owner. */
function checkpointFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/unsupported networking state|cannot be saved in connected state|connecting state/.test(message))
    return "it has a TCP connection that is open or closed less than a minute ago (TIME_WAIT), and its sandbox cannot drop connections";
  return `runsc checkpoint failed: ${message.slice(0, 300)}`;
}

/** A failure for lack of disk space (ENOSPC, NodeDiskFullError, or a host tool saying so). */
function isNoSpace(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e) return false;
  if (e.code === "ENOSPC" || e.code === "node_disk_full") return true;
  if (typeof e.message === "string" && /no space left on device/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isNoSpace(e.cause);
}
