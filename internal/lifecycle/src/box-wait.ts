// Waiting on a box's committed state: woken by the box-event NOTIFY for that
// box, with a look each second as the safety net (a lost notification, a
// listener reconnecting). The API's exec (a box on its way to running) and
// the node link (for an agent too old to wait itself) both wait this way.
import type { PgListener } from "./pg-listener.ts";

/** How often a wait looks at its box without a notification. */
export const BOX_WAIT_POLL_MS = 1_000;

export interface BoxWait<B, T> {
  listener?: Pick<PgListener, "waitFor">;
  boxId: string;
  /** Reads the box as committed now (null: gone). */
  read: () => Promise<B | null>;
  /** What a look at the box means: a value ends the wait; undefined waits on; throw to give up. */
  decide: (box: B | null) => T | undefined;
  ms: number;
  /** The error once `ms` has passed. */
  late: () => Error;
  signal?: AbortSignal;
  /** The error when `signal` aborts. */
  aborted?: () => Error;
  /** The box as the caller just read it: decided on first, then read again once subscribed. */
  first?: B;
}

export async function untilBox<B, T>(w: BoxWait<B, T>): Promise<T> {
  const deadline = Date.now() + w.ms;
  if (w.first !== undefined) {
    const v = w.decide(w.first);
    if (v !== undefined) return v;
  }
  for (;;) {
    // Subscribed before the read: a change committed during it still wakes this wait.
    const left = Math.max(1, Math.min(BOX_WAIT_POLL_MS, deadline - Date.now()));
    const waiting = w.listener?.waitFor("boxyard_box_events", (p) => p === w.boxId, left, w.signal);
    const v = w.decide(await w.read());
    if (v !== undefined) return v;
    if (w.signal?.aborted) throw (w.aborted ?? w.late)();
    if (Date.now() >= deadline) throw w.late();
    await (waiting ?? new Promise((r) => setTimeout(r, Math.min(200, left))));
  }
}
