// The agent's side of template image builds: claim a build from the control
// plane (long poll), build the image into this node's layer store through
// the same ImageResolver boxes use (so a box created meanwhile waits on the
// same build rather than starting a second one), and report the builder's
// log as it comes, then ready with the layers or failed with the reason.
// One build at a time: image builds are heavy (mmdebstrap) and boxes on the
// node share the disk and the mirror.

import type { BuildJob, BuildUpdate, ControlPlaneLink } from "@boxyard/agent-protocol";
import type { BackoffOptions } from "@boxyard/lifecycle/backoff";
import type { Logger } from "pino";
import type { ImageBuildResult, ImageResolver } from "./image-resolver.ts";
import { claimLoop, JobReporter } from "./job-reporter.ts";

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

export class BuildRunner {
  private readonly flushMs: number;

  constructor(private readonly o: BuildRunnerOptions) {
    this.flushMs = o.flushMs ?? 500;
  }

  /** Runs until the signal aborts; returns without waiting for a build still in progress. */
  run(): Promise<void> {
    return claimLoop({
      nodeId: this.o.nodeId,
      claim: (nodeId) =>
        this.o.link.claimBuild!(nodeId, { waitMs: this.o.longPollMs, signal: this.o.signal }),
      run: (nodeId, job) => this.build(nodeId, job),
      retry: this.o.retry,
      logger: this.o.logger,
      what: "template builds",
      signal: this.o.signal,
    });
  }

  private async build(nodeId: string, job: BuildJob): Promise<void> {
    const r = new JobReporter<BuildUpdate>({
      send: (u) => this.o.link.updateBuild!(nodeId, job.id, u),
      logger: this.o.logger,
      what: { build: job.id },
      flushMs: this.flushMs,
      signal: this.o.signal,
    });
    const building: BuildUpdate = { status: "building" };
    r.begin(building);
    const image = "base" in job.image ? job.image.base : `oci ${job.image.oci}`;
    r.log(`build ${job.id} of ${image} on this node${job.attempt > 1 ? ` (attempt ${job.attempt})` : ""}`);
    let result: ImageBuildResult | undefined;
    let error: string | undefined;
    try {
      result = this.o.images.build
        ? await this.o.images.build(job.image, { onLog: r.log })
        : { layers: await this.o.images.resolve(job.image), cacheHit: false };
      r.log(
        result.cacheHit
          ? `cache hit: layers already on this node (${result.layers.join(", ")})`
          : `built ${result.layers.join(", ")} in ${r.elapsedSeconds.toFixed(1)}s`,
      );
    } catch (err) {
      error = String((err as Error).message ?? err);
      r.log(`build failed: ${error}`);
    }
    await r.finish(
      building,
      result
        ? { status: "ready", layers: result.layers, cacheHit: result.cacheHit }
        : { status: "failed", error: (error ?? "unknown error").slice(0, 4000) },
    );
  }
}
