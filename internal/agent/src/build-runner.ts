// The agent's side of template image builds: claim a build from the control
// plane (long poll), build the image into this node's layer store through
// the same ImageResolver boxes use (so a box created meanwhile waits on the
// same build rather than starting a second one), and report the builder's
// log as it comes, then ready with the layers or failed with the reason.
// One build at a time: image builds are heavy (mmdebstrap) and boxes on the
// node share the disk and the mirror.

import type { BuildJob, ControlPlaneLink } from "@boxyard/agent-protocol";
import { type BackoffOptions, backoffMs } from "@boxyard/lifecycle/backoff";
import type { Logger } from "pino";
import type { ImageBuildResult, ImageResolver } from "./image-resolver.ts";

export interface BuildRunnerOptions {
  link: ControlPlaneLink;
  images: ImageResolver;
  logger: Logger;
  /** The node's id once registered. */
  nodeId: () => string | undefined;
  longPollMs: number;
  retry: BackoffOptions;
  /** Log text is sent in batches this often (and the lease renewed at least this often). */
  flushMs?: number;
  signal: AbortSignal;
}

const MAX_BATCH = 200 * 1024;

export class BuildRunner {
  private readonly flushMs: number;

  constructor(private readonly o: BuildRunnerOptions) {
    this.flushMs = o.flushMs ?? 500;
  }

  /** Runs until the signal aborts; returns without waiting for a build still in progress. */
  async run(): Promise<void> {
    let failures = 0;
    const stopped = new Promise<void>((resolve) => {
      if (this.o.signal.aborted) resolve();
      this.o.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    while (!this.o.signal.aborted) {
      const nodeId = this.o.nodeId();
      if (!nodeId) {
        await this.sleep(200);
        continue;
      }
      try {
        const job = await this.o.link.claimBuild!(nodeId, {
          waitMs: this.o.longPollMs,
          signal: this.o.signal,
        });
        failures = 0;
        // Stopping does not wait for a build (a Debian one takes minutes): it stops reporting, its
        // lease runs out, and the next agent to claim it builds it again.
        if (job && !this.o.signal.aborted) await Promise.race([this.build(nodeId, job), stopped]);
      } catch (err) {
        if (this.o.signal.aborted) break;
        failures++;
        if (failures === 1)
          this.o.logger.warn({ err }, "cannot fetch template builds from the control plane");
        await this.sleep(backoffMs(failures, this.o.retry));
      }
    }
  }

  private async build(nodeId: string, job: BuildJob): Promise<void> {
    const started = Date.now();
    let pending = "";
    let owned = true;
    let sending: Promise<void> = Promise.resolve();
    const log = (line: string) => {
      const elapsed = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
      pending += `[${elapsed}s] ${line}\n`;
      // A flood of output is cut rather than held in memory; the log keeps its tail anyway.
      if (pending.length > 4 * MAX_BATCH) pending = pending.slice(-MAX_BATCH);
    };
    const send = (update: Parameters<NonNullable<ControlPlaneLink["updateBuild"]>>[2]) => {
      sending = sending.then(async () => {
        if (!owned || this.o.signal.aborted) return;
        const text = pending.slice(0, MAX_BATCH);
        pending = pending.slice(text.length);
        try {
          owned = await this.o.link.updateBuild!(nodeId, job.id, {
            ...update,
            ...(text ? { log: text } : {}),
          });
          if (!owned)
            this.o.logger.warn({ build: job.id }, "build taken over by another node; not reporting");
        } catch (err) {
          // Lost text is lost; the next flush carries on and renews the lease.
          this.o.logger.warn({ err, build: job.id }, "cannot report build progress");
        }
      });
      return sending;
    };
    const timer = setInterval(() => void send({ status: "building" }), this.flushMs);
    timer.unref();
    const image = "base" in job.image ? job.image.base : `oci ${job.image.oci}`;
    log(`build ${job.id} of ${image} on this node${job.attempt > 1 ? ` (attempt ${job.attempt})` : ""}`);
    let result: ImageBuildResult | undefined;
    let error: string | undefined;
    try {
      result = this.o.images.build
        ? await this.o.images.build(job.image, { onLog: log })
        : { layers: await this.o.images.resolve(job.image), cacheHit: false };
      log(
        result.cacheHit
          ? `cache hit: layers already on this node (${result.layers.join(", ")})`
          : `built ${result.layers.join(", ")} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
      );
    } catch (err) {
      error = String((err as Error).message ?? err);
      log(`build failed: ${error}`);
    } finally {
      clearInterval(timer);
    }
    // Whatever log is left goes out before the final status, in as many batches as it takes.
    while (pending.length > MAX_BATCH) await send({ status: "building" });
    await send(
      result
        ? { status: "ready", layers: result.layers, cacheHit: result.cacheHit }
        : { status: "failed", error: (error ?? "unknown error").slice(0, 4000) },
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.o.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}
