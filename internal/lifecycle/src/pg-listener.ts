// One LISTEN connection per process, shared by the reconciler, the node
// link's long polls and the SSE streams. Notifications are only a hint to
// look sooner: every consumer also polls, so a dropped connection (and the
// notifications lost with it) delays work but never loses it.

import type { Logger } from "pino";
import type pg from "pg";

export const CHANNELS = [
  "boxyard_box_changed",
  "boxyard_box_events",
  "boxyard_node_desired",
  "boxyard_node_commands",
  "boxyard_node_command_done",
  "boxyard_pool_changed",
  "boxyard_template_builds",
  "boxyard_template_build_changed",
  "boxyard_prebuilds",
  "boxyard_prebuild_changed",
] as const;
export type Channel = (typeof CHANNELS)[number];
type Listener = (payload: string) => void;

export class PgListener {
  private client: pg.PoolClient | undefined;
  private readonly subs = new Map<Channel, Set<Listener>>();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly opts: { pool: pg.Pool; logger: Logger; reconnectMs?: number }) {}

  async start(): Promise<void> {
    await this.connect();
  }

  subscribe(channel: Channel, fn: Listener): () => void {
    let set = this.subs.get(channel);
    if (!set) {
      set = new Set();
      this.subs.set(channel, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Resolves on the next notification on `channel` whose payload matches, or after `ms`. */
  waitFor(
    channel: Channel,
    match: (payload: string) => boolean,
    ms: number,
    signal?: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const off = this.subscribe(channel, (p) => {
        if (match(p)) done();
      });
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners("notification");
      c.release(true);
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await this.opts.pool.connect();
      client.on("notification", (msg) => {
        const set = this.subs.get(msg.channel as Channel);
        for (const fn of set ?? []) fn(msg.payload ?? "");
      });
      client.on("error", (err) => {
        this.opts.logger.warn({ err }, "LISTEN connection lost; reconnecting");
        if (this.client === client) this.client = undefined;
        client.release(true);
        this.scheduleReconnect();
      });
      for (const ch of CHANNELS) await client.query(`LISTEN ${ch}`);
      if (this.closed) {
        client.release(true);
        return;
      }
      this.client = client;
    } catch (err) {
      this.opts.logger.warn({ err }, "cannot LISTEN; retrying");
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.connect(), this.opts.reconnectMs ?? 1000);
    this.retry.unref();
  }
}
