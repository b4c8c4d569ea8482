import { boxEvents } from "@boxyard/contract";
import { authorizeBox } from "./boxes.ts";
import { boxView } from "./box-view.ts";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

/**
 * GET .../boxes/{box}/events: the current state, then each state change as
 * it is committed (woken by NOTIFY, with a slow poll as a safety net), with
 * keep-alive comments; the stream ends once the box is deleted.
 */
export function registerBoxEventRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;
  r.add(boxEvents, async (ctx, reply) => {
    const { box } = await authorizeBox(deps, ctx.actor, ctx.params, "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    // Read the event position before the snapshot: a change in between is sent twice, never lost.
    let lastId = await store.lastBoxEventId(box.id);
    const current = (await store.getBoxViewById(box.id)) ?? box;
    reply.hijack();
    let draining = Promise.resolve();
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    const stream = lc.sse.begin(reply.raw, ctx.requestId, () => {
      unsubscribe();
      for (const t of timers) clearInterval(t);
    });
    stream.send("state", { ...boxView(current), reason: "current state" });
    if (current.actual_state === "deleted") {
      stream.end();
      return "";
    }
    const drain = () => {
      draining = draining
        .then(async () => {
          const events = await store.listBoxEventsAfter(box.id, lastId);
          for (const e of events) {
            lastId = e.id;
            stream.send(
              e.kind === "oom_kill" ? "oom_kill" : "transition",
              {
                box: box.id,
                from: e.from_state,
                to: e.to_state,
                generation: e.generation,
                reason: e.reason,
                at: e.at.toISOString(),
              },
              e.id,
            );
            if (e.to_state === "deleted") stream.end();
          }
        })
        .catch((err) => deps.logger.warn({ err, boxId: box.id }, "cannot read box events"));
    };
    unsubscribe = lc.listener.subscribe("boxyard_box_events", (id) => {
      if (id === box.id) drain();
    });
    timers.push(setInterval(() => stream.comment("keep-alive"), lc.sseHeartbeatMs));
    timers.push(setInterval(drain, Math.max(1_000, lc.sseHeartbeatMs)));
    drain();
    // The stream has answered; the registrar sees the hijacked reply and sends nothing more.
    return "";
  });
}
