// Waiting on a condition with a deadline, for tests and for drivers that
// must poll (a sandbox's state after a signal). Never a bare sleep.

import { setTimeout as delay } from "node:timers/promises";

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Said in the error when the deadline passes. */
  what: string;
}

/** Polls `probe` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitForOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 25;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await delay(interval);
  }
}

/**
 * Collects everything a stream emits from the moment it is made, so a test
 * can wait for output that may already have arrived.
 */
export class TextCollector {
  text = "";
  ended = false;
  private waiters = new Set<() => void>();

  constructor(stream: NodeJS.ReadableStream) {
    stream.on("data", (chunk: Buffer | string) => {
      this.text += chunk.toString();
      for (const w of this.waiters) w();
    });
    stream.on("end", () => {
      this.ended = true;
      for (const w of this.waiters) w();
    });
  }

  /** Resolves with the collected text once `predicate` holds; rejects at the deadline or when the stream ends first. */
  until(predicate: (text: string) => boolean, opts: { timeoutMs: number; what: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(this.text)) finish();
        else if (this.ended)
          finish(new Error(`stream ended before ${opts.what}; got ${JSON.stringify(this.text)}`));
      };
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(this.text);
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}; got ${JSON.stringify(this.text)}`,
            ),
          ),
        opts.timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }
}
