import type { InProcessNodeLink, LifecycleMetrics, PgListener } from "@boxyard/lifecycle";
import type { SseStreams } from "../http/sse.ts";

/** What the box routes need besides ApiDeps: the node link (exec), notifications (SSE). */
export interface LifecycleDeps {
  link: InProcessNodeLink;
  listener: PgListener;
  sse: SseStreams;
  /** Cap on stdout and stderr each returned by exec. */
  execMaxOutputBytes: number;
  /** Interval of SSE keep-alive comments and of the fallback poll for events. */
  sseHeartbeatMs: number;
  /** Time-in-state of the steps the API takes itself (a desired change published to the node). */
  metrics?: LifecycleMetrics;
}
