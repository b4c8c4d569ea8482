// Following a node job's log (a template build's, a prebuild's) as
// Server-Sent Events: `log` events with the text from an offset as it is
// written, then one `end` event with the job once it is ready or failed.
// Woken by the job's change notifications, and by a 1 s timer in case one
// is missed; the status is read before the log, so everything written
// before the job ended is sent before `end`.

import type { FastifyReply } from "fastify";
import type { Channel } from "@boxyard/lifecycle";
import type { LifecycleDeps } from "./lifecycle-deps.ts";

export function streamJobLog<J extends { status: string }>(o: {
  lc: LifecycleDeps;
  reply: FastifyReply;
  requestId: string;
  /** The notification channel whose payload is the job's id when it changes. */
  channel: Channel;
  id: string;
  offset: number;
  get: () => Promise<J | null>;
  read: (offset: number) => Promise<{ text: string; from: number }>;
  /** The `end` event's data. */
  view: (job: J) => unknown;
  onError: (err: unknown) => void;
}): void {
  let offset = o.offset;
  o.reply.hijack();
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  let draining = Promise.resolve();
  const stream = o.lc.sse.begin(o.reply.raw, o.requestId, () => {
    unsubscribe();
    for (const t of timers) clearInterval(t);
  });
  const drain = () => {
    draining = draining
      .then(async () => {
        const now = await o.get();
        const log = await o.read(offset);
        if (log.text) stream.send("log", { offset: log.from, text: log.text });
        offset = log.from + log.text.length;
        if (now && (now.status === "ready" || now.status === "failed")) {
          stream.send("end", o.view(now));
          stream.end();
        }
      })
      .catch(o.onError);
  };
  unsubscribe = o.lc.listener.subscribe(o.channel, (id) => {
    if (id === o.id) drain();
  });
  timers.push(setInterval(() => stream.comment("keep-alive"), o.lc.sseHeartbeatMs));
  timers.push(setInterval(drain, 1_000));
  drain();
}
