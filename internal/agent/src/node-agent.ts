// The node agent: registers its node, heartbeats, long-polls its desired
// set and drives the Runtime one idempotent step at a time toward it,
// reporting what it observes. It is level-triggered: after a restart it
// lists what the runtime holds and carries on from there, never restarting
// a running box, and it destroys a box only when a successfully fetched
// desired set no longer lists it (test-catalogue D1).

import type {
  BoxReport,
  Capacity,
  ControlPlaneLink,
  DesiredBox,
  ExecReply,
  ExecRequest,
  NodeCommand,
  NodeCommandResult,
  ObservedPhase,
} from "@boxyard/agent-protocol";
// Only the dependency-free parts of the lifecycle package: the agent never loads database code.
import { type BackoffOptions, backoffMs } from "@boxyard/lifecycle/backoff";
import { type Failpoints, failpoints as globalFailpoints, isCrash } from "@boxyard/lifecycle/failpoints";
import type { Clock } from "@boxyard/platform";
import type { BoxObservation, OomKill, Runtime } from "@boxyard/runtime";
import type { Logger } from "pino";
import { classify, type StepFailure } from "./box-failures.ts";
import { BoxSetup, type SetupOutcome } from "./box-setup.ts";
import { BuildRunner } from "./build-runner.ts";
import { isPrebuildBox, PrebuildRunner } from "./prebuild-runner.ts";
import type { ImageResolver } from "./image-resolver.ts";
import {
  type HotPausedBox,
  type MemoryPressureOptions,
  memAvailableBytes,
  pickForColdPause,
} from "./memory-pressure.ts";
import { nextStep, type Step } from "./step.ts";

/** 0.2.0: an exec may wait for its box to come up (ExecRequest.waitMs); older agents refuse such a request. */
export const AGENT_VERSION = "0.2.0";

export interface NodeAgentOptions {
  runtime: Runtime;
  images: ImageResolver;
  link: ControlPlaneLink;
  nodeName: string;
  clock: Clock;
  logger: Logger;
  capacity: Capacity;
  labels?: Record<string, string>;
  heartbeatMs?: number;
  /** How long one desired-set long poll waits for a change. */
  longPollMs?: number;
  /** Backoff for control-plane errors and transient runtime failures. */
  retry?: BackoffOptions;
  /** Reports are resent at least this often even when nothing changed, in case one was lost. */
  rereportMs?: number;
  /**
   * How often a desired-set fetch also lists the runtime for boxes nobody
   * asked for (left by an earlier process). Listing costs a runtime call per
   * box, so it stays off the critical path of every change.
   */
  rescanMs?: number;
  failpoints?: Failpoints;
  /**
   * A box hot-paused (frozen, RAM kept) this long is demoted to a cold pause:
   * its RAM and processes are checkpointed to disk and its compute released.
   * Resume then restores it. Undefined or 0: boxes stay hot-paused.
   */
  coldPauseAfterMs?: number;
  /**
   * When the runtime refuses a cold pause (the box is left as it was), the
   * first wait before trying again; it doubles up to 10 minutes.
   */
  coldPauseRetryMs?: number;
  /**
   * Under memory pressure (the node's available memory below lowBytes),
   * hot-paused boxes are demoted to cold pauses at once, the longest-paused
   * first, until what they hold covers the shortfall; checked with each
   * heartbeat. Undefined: only coldPauseAfterMs demotes.
   */
  memoryPressure?: MemoryPressureOptions;
  /**
   * The node's phases of a new box, as it does them (image, volume, boot,
   * init), for the control plane's create-phase histogram.
   */
  onCreatePhase?: (phase: "image" | "volume" | "boot" | "init", seconds: number) => void;
}

interface Reported {
  key: string;
  at: number;
}

export class NodeAgent {
  private readonly o: NodeAgentOptions &
    Required<
      Pick<
        NodeAgentOptions,
        "heartbeatMs" | "longPollMs" | "retry" | "rereportMs" | "rescanMs" | "failpoints"
      >
    >;
  private nodeId: string | undefined;
  private version = 0;
  /** Null until the first successful fetch: before it, nothing is known to be unwanted. */
  private desired: Map<string, DesiredBox> | null = null;
  /** Boxes the runtime holds or that the desired set names: everything that may need a step. */
  private readonly known = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, StepFailure>();
  /** Generation at which a sandbox was seen failed on its own; a newer generation means "try again". */
  private readonly crashSeen = new Map<string, number>();
  private readonly reported = new Map<string, Reported>();
  private readonly timings = new Map<string, Record<string, number>>();
  /** Boxes this agent prepared whose first boot and set-up are still to be timed (onCreatePhase). */
  private readonly creating = new Map<string, "boot" | "init">();
  /** When each box was first seen hot-paused, for demotion to a cold pause. */
  private readonly pausedSince = new Map<string, number>();
  /** Failed attempts to set a box's identity, for backoff. */
  private readonly identityFailures = new Map<string, number>();
  /** Hot-paused boxes picked for a cold pause now (memory pressure), whatever their timer says. */
  private readonly demoteNow = new Set<string>();
  /** Boxes whose demotion failed once: left hot-paused rather than tried again. */
  private readonly coldPauseFailed = new Set<string>();
  /** Secrets and repository checkout of running boxes, and what their reports say about them. */
  private readonly setup: BoxSetup;
  private readonly setupOutcomes = new Map<string, SetupOutcome>();
  /** Boxes made without their prebuild's layer (not on this node), for their reports. */
  private readonly prebuildMissing = new Set<string>();
  /** Boxes whose demotion the runtime refused (the box unchanged): when to try again. */
  private readonly coldPauseRefused = new Map<string, { attempts: number; at: number; reason: string }>();
  /** Execs waiting for their box to run here (waitMs), woken after each step and each fetched set. */
  private readonly stepWaiters = new Map<string, Set<() => void>>();
  /** Boxes with a runtime step under way: what the runtime shows of them mid-step is not an answer. */
  private readonly stepping = new Set<string>();
  /** Desired-set fetches begun, and the number of the one `desired` came from (an exec's view of placement). */
  private fetchesBegun = 0;
  private desiredFrom = 0;
  private seq: number;
  private running = false;
  private crashed = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private commandLoop: Promise<void> | undefined;
  private buildLoop: Promise<void> | undefined;
  private prebuildLoop: Promise<void> | undefined;
  private readonly commandsInFlight = new Set<Promise<void>>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private lastHeartbeatOk = 0;
  private fetchFailures = 0;
  /** start() lists the runtime; later fetches list again at most every rescanMs. */
  private lastListAt = 0;

  constructor(opts: NodeAgentOptions) {
    this.o = {
      heartbeatMs: 5_000,
      longPollMs: 25_000,
      retry: { baseMs: 500, capMs: 30_000 },
      rereportMs: 30_000,
      rescanMs: 15_000,
      failpoints: globalFailpoints,
      ...opts,
    };
    // Report sequence numbers grow across agent restarts because they start from the clock.
    this.seq = this.o.clock.now().getTime() * 1000;
    this.setup = new BoxSetup({
      runtime: this.o.runtime,
      link: this.o.link,
      logger: this.o.logger,
      retry: this.o.retry,
      // An exec waiting for the box's secrets runs now, not after its checkout.
      onSecrets: (boxId) => this.wake(boxId),
    });
  }

  get registeredNodeId(): string | undefined {
    return this.nodeId;
  }

  get isCrashed(): boolean {
    return this.crashed;
  }

  /**
   * Layers the control plane still wants on this node, as far as the agent
   * knows without asking: the images (once resolved here) and prebuilds of
   * the boxes in its desired set, pooled boxes among them. The layer cache's
   * garbage collection removes these last and never for age alone.
   */
  wantedLayers(): string[] {
    const out = new Set<string>();
    for (const want of this.desired?.values() ?? []) {
      for (const d of this.o.images.layersOf?.(want.spec.image) ?? []) out.add(d);
      if (want.spec.prebuild) out.add(want.spec.prebuild.layer);
    }
    return [...out];
  }

  /** Ready once registered and the last heartbeat went through recently. */
  readiness(): { ok: boolean; detail?: string } {
    if (!this.nodeId) return { ok: false, detail: "not registered with the control plane" };
    const age = Date.now() - this.lastHeartbeatOk;
    if (age > 3 * this.o.heartbeatMs)
      return { ok: false, detail: `no heartbeat for ${Math.round(age / 1000)} s` };
    return { ok: true };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Re-adopt whatever an earlier agent process left running.
    for (const obs of await this.o.runtime.list()) if (!isPrebuildBox(obs.id)) this.known.add(obs.id);
    this.lastListAt = Date.now();
    // One registration attempt up front, so a server is ready as soon as it
    // has started; if the control plane is not reachable the loop keeps trying.
    await this.register().catch((err) => this.o.logger.warn({ err }, "cannot register yet; retrying"));
    this.loop = this.run();
    if (this.o.link.fetchCommands) this.commandLoop = this.runCommands();
    if (this.o.link.claimBuild && this.o.link.updateBuild)
      this.buildLoop = new BuildRunner({
        link: this.o.link,
        images: this.o.images,
        logger: this.o.logger.child({ part: "builds" }),
        nodeId: () => (this.crashed ? undefined : this.nodeId),
        longPollMs: this.o.longPollMs,
        retry: this.o.retry,
        signal: this.abort.signal,
      }).run();
    if (this.o.link.claimPrebuild && this.o.link.updatePrebuild)
      this.prebuildLoop = new PrebuildRunner({
        link: this.o.link,
        images: this.o.images,
        runtime: this.o.runtime,
        logger: this.o.logger.child({ part: "prebuilds" }),
        nodeId: () => (this.crashed ? undefined : this.nodeId),
        longPollMs: this.o.longPollMs,
        retry: this.o.retry,
        signal: this.abort.signal,
      }).run();
  }

  /** Stops polling and waits for in-flight steps. Boxes keep running. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake();
    clearInterval(this.heartbeatTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    await this.loop;
    await this.commandLoop;
    await this.buildLoop;
    await this.prebuildLoop;
    await Promise.allSettled([...this.inFlight.values(), ...this.commandsInFlight]);
  }

  /**
   * Runs a command in a running box as the box user (the control plane's
   * exec). With `waitMs`, a box this node is bringing up for generation
   * `generation` (a start or resume) is waited for: the command runs as soon
   * as the runtime has it running, without waiting for the control plane to
   * hear so.
   */
  async exec(req: ExecRequest): Promise<ExecReply> {
    if (req.waitMs) await this.untilRunsHere(req.boxId, req.generation ?? 0, req.waitMs, this.fetchesBegun);
    const r = await this.o.runtime.exec(req.boxId, {
      command: req.command,
      user: "dev",
      timeoutMs: req.timeoutMs,
      maxOutputBytes: req.maxOutputBytes,
    });
    return {
      exitCode: r.exitCode,
      stdout: r.stdout.toString("utf8"),
      stderr: r.stderr.toString("utf8"),
      timedOut: r.timedOut,
      truncated: r.truncated,
    };
  }

  /**
   * Returns once the runtime has the box running with its secrets in it;
   * throws invalid_box_state when it is not on its way to running at
   * `generation` (asked to stop or pause since, failed, gone, not on this
   * node) or the deadline passes. A box not made here yet (a create) and a
   * desired set older than `generation` (the fetch that brings the start is
   * under way) are waited for. `arrival`: the fetches begun when the request
   * came; one begun after it knows the placement the request was sent for.
   */
  private async untilRunsHere(
    boxId: string,
    generation: number,
    waitMs: number,
    arrival: number,
  ): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      // Subscribed before the look: a step that ends during it still wakes this wait.
      const changed = this.nextChange(boxId);
      let timer: NodeJS.Timeout | undefined;
      try {
        // Mid-step (a prepare half done looks failed): the step's end wakes this wait.
        const obs = this.stepping.has(boxId) ? undefined : await this.o.runtime.inspect(boxId);
        const want = this.desired?.get(boxId);
        // Its secrets are written right after the step that starts or restores it (setUpBox).
        if (obs?.phase === "running" && (!want || this.setup.secretsSettled(want))) return;
        if (!this.running) throw new ExecWaitRefused("the node's agent is stopping");
        if (obs === null && !want && this.desiredFrom > arrival)
          throw new ExecWaitRefused("the box is not on this node");
        if (want && want.generation >= generation && want.phase !== "running")
          throw new ExecWaitRefused(
            `the box was asked to be ${want.phase === "absent" ? "deleted" : want.phase} while the command waited`,
          );
        if (obs?.phase === "failed")
          throw new ExecWaitRefused(`the box failed: ${obs.reason ?? "its sandbox ended"}`);
        const left = deadline - Date.now();
        if (left <= 0)
          throw new ExecWaitRefused(`the box was not running within ${Math.round(waitMs / 1000)} s`);
        // A look each second besides the wake-ups: a step of another agent process, a lost wake-up.
        await Promise.race([
          changed.promise,
          new Promise((r) => {
            timer = setTimeout(r, Math.min(left, 1_000));
          }),
        ]);
      } finally {
        clearTimeout(timer);
        changed.cancel();
      }
    }
  }

  /** A promise settled at the box's next step or the next fetched desired set. */
  private nextChange(boxId: string): { promise: Promise<void>; cancel: () => void } {
    let set = this.stepWaiters.get(boxId);
    if (!set) {
      set = new Set();
      this.stepWaiters.set(boxId, set);
    }
    const waiters = set;
    let fire = () => {};
    const promise = new Promise<void>((r) => {
      fire = r;
    });
    const cancel = () => {
      waiters.delete(fire);
      if (!waiters.size && this.stepWaiters.get(boxId) === waiters) this.stepWaiters.delete(boxId);
    };
    waiters.add(fire);
    return { promise, cancel };
  }

  /** Wakes the execs waiting on a box (all of them without an id). */
  private wake(boxId?: string): void {
    const sets = boxId === undefined ? [...this.stepWaiters.values()] : [this.stepWaiters.get(boxId)];
    for (const set of sets) for (const fire of [...(set ?? [])]) fire();
  }

  /**
   * The control plane's fast path for a box claimed from a warm pool: the
   * identity the desired set will carry, applied at once; the box's drive loop
   * then reports it (and would apply it itself had this call been lost).
   */
  async setIdentityNow(boxId: string, identity: { hostname: string; machineId: string }): Promise<void> {
    if (!this.o.runtime.setIdentity) throw new Error(`runtime ${this.o.runtime.name} cannot set identities`);
    await this.o.runtime.setIdentity(boxId, identity);
    this.schedule(boxId);
  }

  private async run(): Promise<void> {
    while (this.running && !this.crashed) {
      try {
        if (!this.nodeId) await this.register();
        const begun = ++this.fetchesBegun;
        const set = await this.o.link.fetchDesired(this.nodeId!, this.version, {
          waitMs: this.o.longPollMs,
          signal: this.abort.signal,
        });
        if (!this.running) break;
        this.fetchFailures = 0;
        this.version = set.version;
        this.desired = new Map(set.boxes.map((b) => [b.boxId, b]));
        this.desiredFrom = begun;
        this.wake();
        for (const id of this.desired.keys()) this.known.add(id);
        // The boxes known now get their steps first: the change that woke this fetch (a resume, say)
        // never waits for the listing below, which costs a runtime call per box.
        for (const id of this.known) this.schedule(id);
        // Whatever else the runtime holds (left by an earlier process) is compared against this set
        // too, at most every rescanMs.
        if (Date.now() - this.lastListAt >= this.o.rescanMs) {
          for (const obs of await this.o.runtime.list())
            if (!isPrebuildBox(obs.id) && !this.known.has(obs.id)) {
              this.known.add(obs.id);
              this.schedule(obs.id);
            }
          this.lastListAt = Date.now();
        }
      } catch (err) {
        if (!this.running) break;
        // A failed fetch proves nothing about what is wanted: keep every box as it is.
        this.fetchFailures++;
        if ((err as { code?: string }).code === "node_not_found") this.nodeId = undefined;
        this.o.logger.warn({ err }, "cannot reach the control plane; boxes keep their state");
        await this.pause(backoffMs(this.fetchFailures, this.o.retry));
      }
    }
  }

  /**
   * Calls the control plane makes into this node (exec) when it cannot call
   * the agent directly (another process or another replica): long-polled,
   * each answered as soon as it is done, several at a time.
   */
  private async runCommands(): Promise<void> {
    let failures = 0;
    while (this.running && !this.crashed) {
      const nodeId = this.nodeId;
      if (!nodeId) {
        await this.pause(200);
        continue;
      }
      try {
        const commands = await this.o.link.fetchCommands!(nodeId, {
          waitMs: this.o.longPollMs,
          signal: this.abort.signal,
        });
        failures = 0;
        for (const c of commands) {
          const p = this.answer(nodeId, c).finally(() => this.commandsInFlight.delete(p));
          this.commandsInFlight.add(p);
        }
      } catch (err) {
        if (!this.running) break;
        failures++;
        if (failures === 1) this.o.logger.warn({ err }, "cannot fetch commands from the control plane");
        await this.pause(backoffMs(failures, this.o.retry));
      }
    }
  }

  private async answer(nodeId: string, c: NodeCommand): Promise<void> {
    let result: NodeCommandResult;
    try {
      result = { reply: await this.exec(c.request) };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      result = {
        error: {
          code: typeof code === "string" ? code.slice(0, 100) : "exec_failed",
          message: String((err as Error).message ?? err).slice(0, 2000),
        },
      };
    }
    await this.o.link.replyCommand!(nodeId, c.id, result).catch((err) =>
      this.o.logger.warn({ err, command: c.id }, "could not answer a command"),
    );
  }

  private async register(): Promise<void> {
    const { nodeId } = await this.o.link.register(
      {
        name: this.o.nodeName,
        runtime: this.o.runtime.name,
        capacity: this.o.capacity,
        labels: this.o.labels ?? {},
        cachedImages: (await this.o.images.cached?.()) ?? [],
        agentVersion: AGENT_VERSION,
      },
      { exec: (req) => this.exec(req), setIdentity: (id, identity) => this.setIdentityNow(id, identity) },
    );
    this.nodeId = nodeId;
    this.lastHeartbeatOk = Date.now();
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /** The last OOM kill the heartbeat saw per box (its time and pid). */
  private readonly seenKills = new Map<string, string>();

  private async heartbeat(): Promise<void> {
    const nodeId = this.nodeId;
    if (!nodeId || this.crashed) return;
    try {
      const boxes = await this.o.runtime.list();
      // A process the box's OOM guard killed changes nothing the desired set
      // says, so no fetch wakes for it: the heartbeat's own look at the boxes
      // sends the box's next report with the kill.
      for (const obs of boxes) {
        const k = obs.oomKills?.at(-1);
        if (!k) continue;
        const seen = `${k.at}/${k.pid}`;
        if (this.seenKills.get(obs.id) === seen) continue;
        this.seenKills.set(obs.id, seen);
        if (this.desired?.has(obs.id)) this.schedule(obs.id);
      }
      const listed = new Set(boxes.map((b) => b.id));
      for (const id of this.seenKills.keys()) if (!listed.has(id)) this.seenKills.delete(id);
      await this.relieveMemoryPressure(boxes).catch((err) =>
        this.o.logger.warn({ err }, "cannot check the node's memory pressure"),
      );
      await this.o.link.heartbeat(nodeId, {
        usage: { boxes: boxes.length, running: boxes.filter((b) => b.phase === "running").length },
        health: { ok: true },
        cachedImages: (await this.o.images.cached?.()) ?? [],
      });
      this.lastHeartbeatOk = Date.now();
    } catch (err) {
      this.o.logger.warn({ err }, "heartbeat failed");
    }
  }

  /** Picks hot-paused boxes for a cold pause while the node is short of memory (see memoryPressure). */
  private async relieveMemoryPressure(boxes: readonly BoxObservation[]): Promise<void> {
    const mp = this.o.memoryPressure;
    if (!mp || !this.desired) return;
    const now = this.o.clock.now().getTime();
    const held = (obs: BoxObservation) =>
      // No figure (or none yet: 0) means its limit.
      obs.usage?.memoryBytes || (this.desired?.get(obs.id)?.spec.resources.memoryMiB ?? 0) * 1024 * 1024;
    let leaving = 0;
    const candidates: HotPausedBox[] = [];
    for (const obs of boxes) {
      if (obs.phase !== "paused" || this.desired.get(obs.id)?.phase !== "paused") continue;
      // A box the runtime would not save (tried again later) frees nothing soon; neither does a failed one.
      if (this.coldPauseRefused.has(obs.id) || this.coldPauseFailed.has(obs.id)) continue;
      // Boxes already on their way to disk count as freed.
      if (this.demoteNow.has(obs.id)) leaving += held(obs);
      else
        candidates.push({ id: obs.id, pausedSince: this.pausedSince.get(obs.id) ?? now, bytes: held(obs) });
    }
    if (candidates.length === 0) return;
    const available = await (mp.availableBytes ?? memAvailableBytes)();
    const picked = pickForColdPause(available + leaving, mp.lowBytes, candidates);
    if (picked.length === 0) return;
    this.o.logger.warn(
      { availableBytes: available, lowBytes: mp.lowBytes, boxes: picked.map((b) => b.id) },
      "memory pressure: demoting hot-paused boxes to cold pauses",
    );
    for (const b of picked) {
      this.demoteNow.add(b.id);
      this.schedule(b.id);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Ensures one drive loop per box; a request during one makes it look again when done. */
  private schedule(boxId: string): void {
    if (!this.running || this.crashed) return;
    if (this.inFlight.has(boxId)) {
      this.again.add(boxId);
      return;
    }
    const p = this.drive(boxId)
      .catch((err) => {
        if (isCrash(err)) {
          this.crashed = true;
          this.running = false;
          this.abort.abort();
          clearInterval(this.heartbeatTimer);
        } else this.o.logger.warn({ err, boxId }, "box step loop failed");
      })
      .finally(() => {
        this.inFlight.delete(boxId);
        if (this.again.delete(boxId)) this.schedule(boxId);
      });
    this.inFlight.set(boxId, p);
  }

  /** Steps one box until it matches its desired entry, fails, or must wait. */
  private async drive(boxId: string): Promise<void> {
    // What the last runtime call returned: the next look needs no `inspect` of its own.
    let carried: BoxObservation | null | undefined;
    for (let i = 0; i < 10 && this.running && !this.crashed; i++) {
      if (!this.desired) return;
      const want = this.desired.get(boxId);
      const obs = carried !== undefined ? carried : await this.o.runtime.inspect(boxId);
      carried = undefined;
      const have: ObservedPhase = obs?.phase ?? "absent";
      if (!want) {
        // Not in a successfully fetched set: unwanted here.
        if (have === "absent") {
          this.forget(boxId);
          return;
        }
        await this.step("destroy", boxId, undefined);
        continue;
      }
      const g = want.generation;
      const failure = this.failures.get(boxId);
      if (failure && failure.generation !== g) this.failures.delete(boxId);
      else if (failure && (failure.permanent || this.o.clock.now().getTime() < failure.nextAt)) {
        await this.report(want, failure.permanent ? "failed" : have, failure.message, failure);
        if (!failure.permanent) this.retryLater(boxId, failure.nextAt);
        return;
      }
      if (have === "failed" && want.phase !== "absent" && want.phase !== "stopped") {
        const seen = this.crashSeen.get(boxId);
        if (seen === undefined || seen >= g) {
          // The sandbox died on its own: show it; a new generation (start) retries.
          this.crashSeen.set(boxId, g);
          await this.report(want, "failed", obs?.reason ?? "the sandbox failed", {
            code: obs?.oomKilled ? "oom_killed" : "sandbox_failed",
            message: obs?.reason ?? "the sandbox failed",
            permanent: true,
            attempts: 1,
          });
          return;
        }
      }
      const s = nextStep(want.phase, have);
      if (s === null && (await this.demoteIfDue(boxId, want, have))) continue;
      if (s === null) {
        const renamed = await this.keepIdentity(boxId, want, have, obs);
        if (renamed === "retry") return;
        if (renamed) {
          carried = renamed;
          continue;
        }
        await this.setUpBox(boxId, want, have);
        // An exec waiting for secrets whose delivery failed (it runs without them) runs now.
        this.wake(boxId);
        this.failures.delete(boxId);
        const deferred = have === "paused" ? this.coldPauseRefused.get(boxId)?.reason : undefined;
        await this.report(want, have, obs?.reason ?? deferred, undefined, obs?.address, identityOf(obs), obs);
        if (want.phase === "absent") this.forget(boxId);
        return;
      }
      let stepped: BoxObservation | null;
      this.stepping.add(boxId);
      try {
        stepped = await this.step(s, boxId, want);
        this.stepping.delete(boxId);
        if (s === "stop") this.crashSeen.delete(boxId);
        // An exec waiting for this box runs now, while the step is reported.
        this.wake(boxId);
      } catch (err) {
        this.stepping.delete(boxId);
        this.wake(boxId);
        if (isCrash(err)) throw err;
        const c = classify(err);
        const attempts = (failure?.generation === g ? failure.attempts : 0) + 1;
        const f: StepFailure = {
          generation: g,
          attempts,
          nextAt: this.o.clock.now().getTime() + backoffMs(attempts, this.o.retry),
          ...c,
        };
        this.failures.set(boxId, f);
        this.o.logger.warn({ err, boxId, step: s, attempts }, "runtime step failed");
        // A transient failure reports the phase the box is really in (with the error); a permanent one, failed.
        const current = f.permanent ? undefined : await this.o.runtime.inspect(boxId).catch(() => undefined);
        await this.report(want, f.permanent ? "failed" : (current?.phase ?? have), c.message, f);
        if (!f.permanent) this.retryLater(boxId, f.nextAt);
        return;
      }
      // Progress is reported after every step, so the control plane shows the transient state.
      const after = stepped ?? (await this.o.runtime.inspect(boxId));
      // With its identity, as the settled report has it: that one is then the same report, not sent again.
      await this.report(
        want,
        after?.phase ?? "absent",
        after?.reason,
        undefined,
        after?.address,
        identityOf(after),
        after,
      );
      carried = after;
    }
    if (this.running) this.again.add(boxId);
  }

  /**
   * Hot pause keeps a box's RAM on the node; after coldPauseAfterMs the box
   * is checkpointed to disk instead (still "paused" to its owner). Returns
   * true when it checkpointed, so the caller looks at the box again.
   */
  private async demoteIfDue(boxId: string, want: DesiredBox, have: ObservedPhase): Promise<boolean> {
    // The owner may ask for a cold pause at once (pause --cold); so may the node's memory pressure.
    const now = this.o.clock.now().getTime();
    const atOnce = want.coldPause || this.demoteNow.has(boxId);
    const after = atOnce ? 0 : (this.o.coldPauseAfterMs ?? 0);
    if (want.phase === "paused" && have === "paused" && !this.pausedSince.has(boxId))
      this.pausedSince.set(boxId, now);
    if (
      want.phase !== "paused" ||
      have !== "paused" ||
      (!after && !atOnce) ||
      this.coldPauseFailed.has(boxId)
    ) {
      if (have !== "paused") {
        this.pausedSince.delete(boxId);
        this.coldPauseRefused.delete(boxId);
      }
      this.demoteNow.delete(boxId);
      return false;
    }
    const since = this.pausedSince.get(boxId) ?? now;
    const refused = this.coldPauseRefused.get(boxId);
    const due = Math.max(since + after, refused?.at ?? 0);
    if (now < due) {
      this.retryLater(boxId, due);
      return false;
    }
    try {
      const started = Date.now();
      await this.o.runtime.checkpoint(boxId);
      this.o.logger.info({ boxId, ms: Date.now() - started }, "hot pause demoted to cold pause");
    } catch (err) {
      if (isCrash(err)) throw err;
      if ((err as { code?: unknown }).code === "checkpoint_refused") {
        // The runtime left the box hot-paused with everything in it: try again later.
        const attempts = (refused?.attempts ?? 0) + 1;
        const wait = Math.min(600_000, (this.o.coldPauseRetryMs ?? 30_000) * 2 ** (attempts - 1));
        const reason = `cold pause deferred: ${(err as Error).message}; the node tries again in ${Math.round(wait / 1000)} s`;
        this.coldPauseRefused.set(boxId, { attempts, at: now + wait, reason });
        this.retryLater(boxId, now + wait);
        this.o.logger.warn({ err, boxId, attempts }, "cold pause refused; the box stays hot-paused");
        return false;
      }
      // A failed checkpoint may have ended the sandbox (see docs/runtime-notes.md);
      // the normal steps take it from whatever state it is in now.
      this.coldPauseFailed.add(boxId);
      this.o.logger.warn({ err, boxId }, "cold pause failed; the box stays as the runtime left it");
    }
    this.pausedSince.delete(boxId);
    this.coldPauseRefused.delete(boxId);
    this.demoteNow.delete(boxId);
    return true;
  }

  /**
   * Keeps the box's identity (hostname, machine-id) as published: a box
   * claimed from a warm pool is renamed while it runs. Returns the new
   * observation when it changed something, "retry" after a failure (tried
   * again with backoff), or null when there is nothing to do.
   */
  private async keepIdentity(
    boxId: string,
    want: DesiredBox,
    have: ObservedPhase,
    obs: BoxObservation | null,
  ): Promise<BoxObservation | null | "retry"> {
    const machineId = want.spec.machineId;
    const setIdentity = this.o.runtime.setIdentity?.bind(this.o.runtime);
    if (machineId === undefined || !setIdentity || !obs?.identity) return null;
    if (have !== "running" && have !== "stopped" && have !== "prepared") return null;
    if (obs.identity.hostname === want.spec.hostname && obs.identity.machineId === machineId) return null;
    try {
      this.o.failpoints.hit("agent.before-identity");
      const started = Date.now();
      const next = await setIdentity(boxId, { hostname: want.spec.hostname, machineId });
      this.identityFailures.delete(boxId);
      this.o.logger.info({ boxId, hostname: want.spec.hostname, ms: Date.now() - started }, "identity set");
      return next;
    } catch (err) {
      if (isCrash(err)) throw err;
      const attempts = (this.identityFailures.get(boxId) ?? 0) + 1;
      this.identityFailures.set(boxId, attempts);
      this.o.logger.warn({ err, boxId, attempts }, "cannot set the box's identity; retrying");
      this.retryLater(boxId, this.o.clock.now().getTime() + backoffMs(attempts, this.o.retry));
      return "retry";
    }
  }

  /**
   * A box running as wanted gets its secrets (again after every restart or
   * restore) and its repository checkout; any other box has none in memory
   * to keep. A changed outcome is reported at once.
   */
  private async setUpBox(boxId: string, want: DesiredBox, have: ObservedPhase): Promise<void> {
    if (have !== "running" || want.phase !== "running" || !this.nodeId) {
      this.setup.notRunning(boxId);
      return;
    }
    const setupStarted = Date.now();
    const out = await this.setup.ensure(this.nodeId, want);
    if (this.creating.get(boxId) === "init") {
      this.creating.delete(boxId);
      this.o.onCreatePhase?.("init", (Date.now() - setupStarted) / 1000);
    }
    if (this.prebuildMissing.has(boxId)) {
      const missing = `its prebuild ${want.spec.prebuild?.id} is not on this node: the box was made from the image alone`;
      out.problem = out.problem ? `${out.problem}; ${missing}` : missing;
    }
    if (out.retryAt !== undefined) this.retryLater(boxId, out.retryAt);
    const before = this.setupOutcomes.get(boxId);
    if (before?.problem !== out.problem || before?.repoCommit !== out.repoCommit) this.reported.delete(boxId);
    this.setupOutcomes.set(boxId, { ...before, ...out, ...(out.problem ? {} : { problem: undefined }) });
  }

  /** One runtime call; returns what the runtime says the box is now (null after destroy). */
  private async step(s: Step, boxId: string, want: DesiredBox | undefined): Promise<BoxObservation | null> {
    const started = Date.now();
    const rt = this.o.runtime;
    let obs: BoxObservation | null = null;
    switch (s) {
      case "prepare": {
        if (!want) throw new Error("prepare needs a desired entry");
        // The layer cache's garbage collection may remove a layer between the
        // resolve and the prepare (it was unused until this box): the image
        // is resolved again (the resolver rebuilds what is gone) and the
        // prepare tried once more, rather than failing the box for good.
        for (let attempt = 1; ; attempt++) {
          // A copy: the resolver may hand every caller the same array.
          const resolving = Date.now();
          const layers = [...(await this.o.images.resolve(want.spec.image))];
          const pb = want.spec.prebuild;
          if (pb) {
            // The prebuild's layer goes over the image; a node without it makes the box from scratch and says so.
            if (!this.o.images.hasLayer || (await this.o.images.hasLayer(pb.layer))) layers.push(pb.layer);
            else this.prebuildMissing.add(boxId);
          }
          const preparing = Date.now();
          this.o.onCreatePhase?.("image", (preparing - resolving) / 1000);
          const { cpu, memoryMiB, diskGiB } = want.spec.resources;
          try {
            obs = await rt.prepare({
              id: boxId,
              hostname: want.spec.hostname,
              ...(want.spec.machineId !== undefined ? { machineId: want.spec.machineId } : {}),
              layers,
              resources: { cpu, memoryMiB, diskGiB },
              network: want.spec.network,
              ...(want.spec.env ? { env: want.spec.env } : {}),
            });
          } catch (err) {
            if (attempt === 1 && (err as { code?: unknown }).code === "image_layer_missing") {
              this.o.logger.info(
                { boxId, err: (err as Error).message },
                "a layer went from the node's cache; resolving again",
              );
              continue;
            }
            throw err;
          }
          this.o.onCreatePhase?.("volume", (Date.now() - preparing) / 1000);
          break;
        }
        if (this.o.onCreatePhase) this.creating.set(boxId, "boot");
        break;
      }
      case "start":
        obs = await rt.start(boxId);
        if (this.creating.get(boxId) === "boot") {
          this.creating.set(boxId, "init");
          this.o.onCreatePhase?.("boot", (Date.now() - started) / 1000);
        }
        break;
      case "stop":
        obs = await rt.stop(boxId);
        break;
      case "pause":
        obs = await rt.pause(boxId);
        break;
      case "resume":
        obs = await rt.resume(boxId);
        break;
      case "destroy":
        await rt.destroy(boxId);
        break;
      default: {
        const never: never = s;
        throw new Error(`unknown step ${String(never)}`);
      }
    }
    const t = this.timings.get(boxId) ?? {};
    t[s] = Date.now() - started;
    this.timings.set(boxId, t);
    this.o.failpoints.hit(`agent.after-${s}`);
    return obs;
  }

  private async report(
    want: DesiredBox,
    phase: ObservedPhase,
    reason: string | undefined,
    error: { code: string; message: string; permanent: boolean; attempts: number } | undefined,
    address?: string,
    identity?: string,
    obs?: BoxObservation | null,
  ): Promise<void> {
    if (!this.nodeId) return;
    const oomKills: OomKill[] | undefined = obs?.oomKills?.length ? obs.oomKills.slice(-20) : undefined;
    const lastKill = oomKills?.at(-1);
    const key = JSON.stringify([
      want.generation,
      phase,
      reason ?? null,
      error ?? null,
      identity ?? null,
      lastKill ? [lastKill.at, lastKill.pid] : null,
    ]);
    const last = this.reported.get(want.boxId);
    const now = Date.now();
    if (last && last.key === key && now - last.at < this.o.rereportMs) return;
    const r: BoxReport = { boxId: want.boxId, generation: want.generation, seq: this.seq++, phase };
    if (reason !== undefined) r.reason = reason;
    const setup = this.setupOutcomes.get(want.boxId);
    if (setup?.problem && r.reason === undefined) r.reason = setup.problem;
    if (setup?.repoCommit) r.repoCommit = setup.repoCommit;
    if (error)
      r.error = {
        code: error.code,
        message: error.message,
        permanent: error.permanent,
        attempts: error.attempts,
      };
    if (address !== undefined) r.address = address;
    if (identity !== undefined) r.identity = identity;
    if (oomKills) r.oomKills = oomKills.map((k) => ({ ...k, command: k.command.slice(0, 64) }));
    const t = this.timings.get(want.boxId);
    if (t) r.timings = { ...t };
    try {
      await this.o.link.report(this.nodeId, [r]);
      this.reported.set(want.boxId, { key, at: now });
      this.o.failpoints.hit("agent.after-report");
    } catch (err) {
      if (isCrash(err)) throw err;
      // Level-triggered: the next pass reports again.
      this.o.logger.warn({ err, boxId: want.boxId }, "report failed");
    }
  }

  private retryLater(boxId: string, at: number): void {
    const t = setTimeout(
      () => {
        this.retryTimers.delete(t);
        this.schedule(boxId);
      },
      Math.max(0, at - this.o.clock.now().getTime()),
    );
    this.retryTimers.add(t);
  }

  private forget(boxId: string): void {
    this.known.delete(boxId);
    this.failures.delete(boxId);
    this.crashSeen.delete(boxId);
    this.reported.delete(boxId);
    this.timings.delete(boxId);
    this.creating.delete(boxId);
    this.pausedSince.delete(boxId);
    this.demoteNow.delete(boxId);
    this.coldPauseFailed.delete(boxId);
    this.coldPauseRefused.delete(boxId);
    this.identityFailures.delete(boxId);
    this.setup.forget(boxId);
    this.setupOutcomes.delete(boxId);
    this.prebuildMissing.delete(boxId);
  }
}

/** How a report names the identity a box has ("hostname machine-id"). */
function identityOf(obs: BoxObservation | null): string | undefined {
  return obs?.identity ? `${obs.identity.hostname} ${obs.identity.machineId ?? ""}` : undefined;
}

/** A waiting exec whose box is not coming up here: the control plane answers box_not_running. */
class ExecWaitRefused extends Error {
  readonly code = "invalid_box_state";
  override readonly name = "ExecWaitRefused";
}
