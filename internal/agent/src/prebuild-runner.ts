// The agent's side of prebuilds: claim one (long poll), then in a
// throw-away box of the template (its image, resources, network policy and
// org secrets): check the repository out, run the `init` commands in order
// as the box user in /workspace, stop the box and keep what it changed as a
// layer in the node's store (Runtime.captureLayer), and report ready with
// the commit and the layer, or failed with the reason. The log shows each
// step with its time and each command's output. The throw-away box is
// destroyed whatever happens; one left by a crashed agent is destroyed when
// the next runner starts. Secrets reach the box as files on its tmpfs only,
// so they are not in the layer (the capture leaves /run out).

import {
  BOX_SECRETS_DIR,
  type ControlPlaneLink,
  type PrebuildJob,
  type PrebuildUpdate,
} from "@boxyard/agent-protocol";
import type { BackoffOptions } from "@boxyard/lifecycle/backoff";
import type { Runtime } from "@boxyard/runtime";
import type { Logger } from "pino";
import type { ImageResolver } from "./image-resolver.ts";
import { claimLoop, JobReporter } from "./job-reporter.ts";
import { CHECKOUT, PREBUILD_MARKER } from "./repo-checkout.ts";

/** Ids of prebuilds' throw-away boxes: the node agent leaves these to the runner. */
export function isPrebuildBox(id: string): boolean {
  return id.startsWith("pb_");
}

export interface PrebuildRunnerOptions {
  link: ControlPlaneLink;
  images: ImageResolver;
  runtime: Runtime;
  logger: Logger;
  nodeId: () => string | undefined;
  longPollMs: number;
  retry: BackoffOptions;
  flushMs?: number;
  /** How long one init command may run (default 30 min), and the clone. */
  commandTimeoutMs?: number;
  signal: AbortSignal;
}

const OUTPUT_CAP = 256 * 1024;

export class PrebuildRunner {
  /** The prebuild in progress: stopping the runner ends its box and waits for it to wind up. */
  private current: { id: string; done: Promise<void> } | undefined;

  constructor(private readonly o: PrebuildRunnerOptions) {}

  /**
   * Runs until the signal aborts; destroys throw-away boxes an earlier agent
   * left first. Stopping destroys the box of a prebuild in progress (it is
   * not reported: its lease runs out and another node runs it again).
   */
  async run(): Promise<void> {
    for (const obs of await this.o.runtime.list().catch(() => []))
      if (isPrebuildBox(obs.id)) {
        this.o.logger.info({ box: obs.id }, "removing a prebuild box an earlier agent left");
        await this.o.runtime.destroy(obs.id).catch((err) => this.o.logger.warn({ err }, "cannot remove it"));
      }
    this.o.signal.addEventListener(
      "abort",
      () => {
        if (this.current) void this.o.runtime.destroy(this.current.id).catch(() => {});
      },
      { once: true },
    );
    await claimLoop({
      nodeId: this.o.nodeId,
      claim: (nodeId) =>
        this.o.link.claimPrebuild!(nodeId, { waitMs: this.o.longPollMs, signal: this.o.signal }),
      run: (nodeId, job) => {
        const done = this.prebuild(nodeId, job).finally(() => {
          this.current = undefined;
        });
        this.current = { id: job.id, done };
        return done;
      },
      retry: this.o.retry,
      logger: this.o.logger,
      what: "prebuilds",
      signal: this.o.signal,
    });
    await this.current?.done;
  }

  private async prebuild(nodeId: string, job: PrebuildJob): Promise<void> {
    const r = new JobReporter<PrebuildUpdate>({
      send: (u) => this.o.link.updatePrebuild!(nodeId, job.id, u),
      logger: this.o.logger,
      what: { prebuild: job.id },
      flushMs: this.o.flushMs ?? 500,
      signal: this.o.signal,
    });
    const building: PrebuildUpdate = { status: "building" };
    r.begin(building);
    r.log(`prebuild ${job.id} on this node${job.attempt > 1 ? ` (attempt ${job.attempt})` : ""}`);
    let final: PrebuildUpdate;
    try {
      const out = await this.steps(nodeId, job, r.log);
      r.log(
        `ready in ${r.elapsedSeconds.toFixed(1)}s: layer ${out.layer}${out.commit ? ` at ${out.commit}` : ""}`,
      );
      final = { status: "ready", layer: out.layer, ...(out.commit ? { commit: out.commit } : {}) };
    } catch (err) {
      const error = String((err as Error).message ?? err);
      r.log(`prebuild failed: ${error}`);
      final = { status: "failed", error: error.slice(0, 4000) };
    } finally {
      await this.o.runtime.destroy(job.id).catch((err) => {
        this.o.logger.warn({ err, prebuild: job.id }, "cannot remove the prebuild box");
      });
    }
    await r.finish(building, final);
  }

  private async steps(
    nodeId: string,
    job: PrebuildJob,
    log: (line: string) => void,
  ): Promise<{ layer: string; commit?: string }> {
    const rt = this.o.runtime;
    const id = job.id;
    const timeoutMs = this.o.commandTimeoutMs ?? 30 * 60_000;
    if (!rt.captureLayer) throw new Error(`the ${rt.name} runtime cannot keep a box's changes as a layer`);
    log("image: resolving its layers");
    const layers = await this.o.images.resolve(job.image);
    log(`image: ${layers.length} layer(s); starting a box of it`);
    await rt.prepare({
      id,
      hostname: "prebuild",
      layers,
      resources: job.resources,
      network: job.network,
      ...(job.env ? { env: job.env } : {}),
    });
    await rt.start(id);
    if (job.secrets.length > 0) {
      if (!rt.writeSecrets || !this.o.link.fetchBoxSecrets)
        throw new Error("this node cannot put secrets into boxes");
      const got = await this.o.link.fetchBoxSecrets(nodeId, id);
      const values = got.secrets.map((s) => ({ name: s.name, value: Buffer.from(s.value, "base64") }));
      try {
        await rt.writeSecrets(id, values);
      } finally {
        for (const v of values) v.value.fill(0);
      }
      log(
        `secrets: ${values.length} of the org's` +
          (got.missing.length ? `; not set in the org: ${got.missing.join(", ")}` : ""),
      );
    }
    let commit: string | undefined;
    if (job.repo) {
      log(`checkout: ${job.repo.url}${job.repo.ref ? ` at ${job.repo.ref}` : ""}`);
      const res = await rt.exec(id, {
        command: [
          "/bin/sh",
          "-c",
          CHECKOUT,
          "sh",
          job.repo.url,
          job.repo.ref ?? "",
          job.repo.secret ? `${BOX_SECRETS_DIR}/${job.repo.secret}` : "",
        ],
        user: "dev",
        cwd: "/workspace",
        timeoutMs,
        maxOutputBytes: 64 * 1024,
        // The credential is read from its file by git's helper: not in git's environment.
        noSecretsEnv: true,
      });
      commit = res.stdout.toString("utf8").trim().split("\n").pop() ?? "";
      if (res.exitCode !== 0 || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) {
        const why =
          res.exitCode === 127
            ? "git is not in the image (add it to image.packages)"
            : res.stderr.toString("utf8").trim().split("\n").slice(-3).join(" / ").slice(0, 400);
        throw new Error(`checkout of ${job.repo.url} failed: ${res.timedOut ? "timed out" : why}`);
      }
      log(`checkout: commit ${commit}`);
    }
    for (const [i, command] of job.init.entries()) {
      const started = Date.now();
      log(`init ${i + 1}/${job.init.length}: ${command}`);
      const res = await rt.exec(id, {
        command: ["/bin/sh", "-c", command],
        user: "dev",
        cwd: "/workspace",
        timeoutMs,
        maxOutputBytes: OUTPUT_CAP,
      });
      for (const line of `${res.stdout.toString("utf8")}${res.stderr.toString("utf8")}`.split("\n"))
        if (line !== "") log(`  ${line}`);
      if (res.truncated) log("  (output cut)");
      const took = ((Date.now() - started) / 1000).toFixed(1);
      if (res.timedOut) throw new Error(`init command ${i + 1} timed out after ${took}s: ${command}`);
      if (res.exitCode !== 0)
        throw new Error(`init command ${i + 1} exited with ${res.exitCode} after ${took}s: ${command}`);
      log(`init ${i + 1}/${job.init.length}: done in ${took}s`);
    }
    if (job.repo) {
      // Boxes made from this prebuild bring the checkout to their ref at their first start.
      const res = await rt.exec(id, {
        command: ["/bin/sh", "-c", `printf '%s\\n' "$1" > ${PREBUILD_MARKER}`, "sh", id],
        user: "dev",
        cwd: "/workspace",
        timeoutMs: 60_000,
        noSecretsEnv: true,
      });
      if (res.exitCode !== 0)
        throw new Error(`cannot mark the checkout: ${res.stderr.toString("utf8").trim()}`);
    }
    log("stopping the box and keeping its changes as a layer");
    await rt.stop(id);
    const layer = await rt.captureLayer(id);
    return { layer, ...(commit ? { commit } : {}) };
  }
}
