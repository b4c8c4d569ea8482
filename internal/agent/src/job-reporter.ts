// How a node reports a long job it claimed from the control plane (an image
// build, a prebuild): log lines stamped with the time since the start, sent
// in batches every flushMs (each batch renews the job's lease), then the
// final status after the rest of the log. A report the control plane
// refuses means the job is no longer this node's: nothing more is sent.

import { type BackoffOptions, backoffMs } from "@boxyard/lifecycle/backoff";
import type { Logger } from "pino";

const MAX_BATCH = 200 * 1024;

export interface JobUpdate {
  status: "building" | "ready" | "failed";
  log?: string;
}

export class JobReporter<U extends JobUpdate> {
  private readonly started = Date.now();
  private pending = "";
  private owned = true;
  private sending: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      /** Sends one update; false when the job is not this node's any more. */
      send: (update: U) => Promise<boolean>;
      logger: Logger;
      /** The job, for the node's own log. */
      what: Record<string, unknown>;
      flushMs: number;
      signal: AbortSignal;
    },
  ) {}

  /** Seconds since the job started. */
  get elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** One line of the job's log (without its newline). */
  log = (line: string): void => {
    const elapsed = this.elapsedSeconds.toFixed(1).padStart(6);
    this.pending += `[${elapsed}s] ${line}\n`;
    // A flood of output is cut rather than held in memory; the log keeps its tail anyway.
    if (this.pending.length > 4 * MAX_BATCH) this.pending = this.pending.slice(-MAX_BATCH);
  };

  /** Starts the periodic batches (status building). */
  begin(building: U): void {
    this.timer = setInterval(() => void this.send(building), this.o.flushMs);
    this.timer.unref();
  }

  /** Sends what is left of the log, in as many batches as it takes, then the final update. */
  async finish(building: U, final: U): Promise<void> {
    clearInterval(this.timer);
    while (this.pending.length > MAX_BATCH) await this.send(building);
    await this.send(final);
  }

  private send(update: U): Promise<void> {
    this.sending = this.sending.then(async () => {
      if (!this.owned || this.o.signal.aborted) return;
      const text = this.pending.slice(0, MAX_BATCH);
      this.pending = this.pending.slice(text.length);
      try {
        this.owned = await this.o.send({ ...update, ...(text ? { log: text } : {}) });
        if (!this.owned) this.o.logger.warn(this.o.what, "job taken over by another node; not reporting");
      } catch (err) {
        // Lost text is lost; the next flush carries on and renews the lease.
        this.o.logger.warn({ err, ...this.o.what }, "cannot report job progress");
      }
    });
    return this.sending;
  }
}

/**
 * Claims jobs one at a time until the signal aborts (long polls; backs off
 * when the control plane cannot be reached) and runs each. Stopping does not
 * wait for a job in progress: it stops reporting, its lease runs out, and the
 * next agent to claim it runs it again.
 */
export async function claimLoop<J>(o: {
  nodeId: () => string | undefined;
  claim: (nodeId: string) => Promise<J | null>;
  run: (nodeId: string, job: J) => Promise<void>;
  retry: BackoffOptions;
  logger: Logger;
  /** What is claimed, for the warning when the control plane cannot be reached. */
  what: string;
  signal: AbortSignal;
}): Promise<void> {
  let failures = 0;
  const stopped = new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    o.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  while (!o.signal.aborted) {
    const nodeId = o.nodeId();
    if (!nodeId) {
      await sleep(200, o.signal);
      continue;
    }
    try {
      const job = await o.claim(nodeId);
      failures = 0;
      if (job && !o.signal.aborted) await Promise.race([o.run(nodeId, job), stopped]);
    } catch (err) {
      if (o.signal.aborted) break;
      failures++;
      if (failures === 1) o.logger.warn({ err }, `cannot fetch ${o.what} from the control plane`);
      await sleep(backoffMs(failures, o.retry), o.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
