import type { Runtime } from "@boxyard/runtime";
import { Gauge, Histogram, type Registry } from "prom-client";

const TIMED = [
  "prepare",
  "start",
  "stop",
  "pause",
  "checkpoint",
  "resume",
  "destroy",
  "exec",
  "setIdentity",
  "writeSecrets",
  "captureLayer",
] as const;

/**
 * The node's runtime with its work measured: a histogram of every driver
 * call (prepare, start, stop, pause, checkpoint, resume, destroy, exec) by
 * result, and per-box CPU, memory and disk gauges read from the driver when
 * Prometheus scrapes.
 */
export function instrumentRuntime(runtime: Runtime, registry: Registry): Runtime {
  const seconds = new Histogram({
    name: "boxyard_runtime_operation_seconds",
    help: "Time of runtime driver calls by operation and result",
    labelNames: ["driver", "operation", "result"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  // One driver listing serves every gauge of a scrape: each would otherwise list the node's boxes again
  // (a `runsc list` plus a look at each box), all at once.
  let listing: { at: number; boxes: ReturnType<Runtime["list"]> } | undefined;
  const boxesNow = (): ReturnType<Runtime["list"]> => {
    if (!listing || Date.now() - listing.at > 1_000)
      listing = { at: Date.now(), boxes: runtime.list().catch(() => []) };
    return listing.boxes;
  };
  const usageGauge = (
    name: string,
    help: string,
    pick: (u: NonNullable<Awaited<ReturnType<Runtime["list"]>>[number]["usage"]>) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ["box"] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const box of await boxesNow()) {
          const v = box.usage ? pick(box.usage) : undefined;
          if (v !== undefined) this.labels(box.id).set(v);
        }
      },
    });
  usageGauge("boxyard_box_cpu_seconds", "CPU time used by each box's sandbox", (u) => u.cpuSeconds);
  usageGauge("boxyard_box_memory_bytes", "Memory used by each box's sandbox", (u) => u.memoryBytes);
  usageGauge("boxyard_box_disk_bytes", "Disk used by each box (root changes and volume)", (u) => u.diskBytes);
  usageGauge(
    "boxyard_box_oom_kills",
    "Processes the box's in-box OOM guard killed (as far back as its log goes)",
    (u) => u.oomKills,
  );

  const timed =
    <A extends unknown[], R>(op: (typeof TIMED)[number], fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const end = seconds.startTimer({ driver: runtime.name, operation: op });
      try {
        const out = await fn(...args);
        end({ result: "ok" });
        return out;
      } catch (err) {
        end({ result: "error" });
        throw err;
      }
    };
  // Every method delegates to the driver itself (drivers keep private state,
  // so they must be called on their own object).
  return {
    name: runtime.name,
    prepare: timed("prepare", (spec) => runtime.prepare(spec)),
    start: timed("start", (id) => runtime.start(id)),
    stop: timed("stop", (id) => runtime.stop(id)),
    pause: timed("pause", (id) => runtime.pause(id)),
    checkpoint: timed("checkpoint", (id) => runtime.checkpoint(id)),
    resume: timed("resume", (id) => runtime.resume(id)),
    destroy: timed("destroy", (id) => runtime.destroy(id)),
    exec: timed("exec", (id, opts) => runtime.exec(id, opts)),
    session: (id, opts) => runtime.session(id, opts),
    inspect: (id) => runtime.inspect(id),
    list: () => runtime.list(),
    ...(runtime.setIdentity
      ? { setIdentity: timed("setIdentity", (id, identity) => runtime.setIdentity!(id, identity)) }
      : {}),
    ...(runtime.captureLayer
      ? { captureLayer: timed("captureLayer", (id) => runtime.captureLayer!(id)) }
      : {}),
    ...(runtime.writeSecrets
      ? { writeSecrets: timed("writeSecrets", (id, secrets) => runtime.writeSecrets!(id, secrets)) }
      : {}),
  };
}
