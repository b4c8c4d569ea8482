// Test support: the whole server in this process (like testing/test-api.ts)
// with the fake runtime shared with the test and every lifecycle interval
// shortened, so box tests converge in milliseconds without sleeping.

import { type BoxId, type BoxObservation, FakeRuntime } from "@boxyard/runtime";
import type { LifecycleOverrides, RunningServer } from "../server.ts";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

export const FAST_LIFECYCLE: LifecycleOverrides = {
  reconciler: {
    pollMs: 50,
    leaseMs: 2_000,
    waitRequeueMs: 500,
    resyncMs: 1_000,
    backoff: { baseMs: 20, capMs: 200 },
  },
  agent: {
    heartbeatMs: 200,
    longPollMs: 300,
    rereportMs: 1_000,
    rescanMs: 200,
    retry: { baseMs: 20, capMs: 200 },
    capacity: { cpu: 64, memoryMiB: 262_144, diskGiB: 4096, gpus: 0 },
  },
  sseHeartbeatMs: 200,
};

export interface BoxTestApi extends TestApi {
  runtime: FakeRuntime;
  server: RunningServer;
}

export async function startBoxTestApi(
  opts: { runtime?: FakeRuntime; lifecycle?: LifecycleOverrides; env?: NodeJS.ProcessEnv } = {},
): Promise<BoxTestApi> {
  const runtime = opts.runtime ?? new FakeRuntime();
  const api = await startTestApi({
    lifecycle: { ...FAST_LIFECYCLE, ...opts.lifecycle, runtime },
    ...(opts.env ? { env: opts.env } : {}),
  });
  return { ...api, runtime };
}

/** The fake runtime, with resumes that can be held at a gate (to catch a box in `resuming`). */
export class GatedRuntime extends FakeRuntime {
  private gate: { opened: Promise<void>; open: () => void } | null = null;
  hold(): void {
    let open = () => {};
    const opened = new Promise<void>((r) => {
      open = r;
    });
    this.gate = { opened, open };
  }
  release(): void {
    this.gate?.open();
    this.gate = null;
  }
  override async resume(id: BoxId): Promise<BoxObservation> {
    await this.gate?.opened;
    return super.resume(id);
  }
}
