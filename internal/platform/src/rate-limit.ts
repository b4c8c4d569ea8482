/**
 * Token buckets per key (an API token, a session): `burst` requests at once,
 * refilled at `perSecond`. In memory, per server process: with several
 * replicas each enforces its own share, which is what a per-replica load
 * shedder wants.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #now: () => number;

  constructor(opts: { perSecond: number; burst: number; now?: () => number }) {
    this.#perSecond = opts.perSecond;
    this.#burst = opts.burst;
    this.#now = opts.now ?? Date.now;
  }

  /** Takes one request's token; when there is none, how many seconds until there is. */
  take(key: string): { ok: true } | { ok: false; retryAfterS: number } {
    const now = this.#now();
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    this.#buckets.set(key, b);
    if (this.#buckets.size > 100_000) this.#forgetFull(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond)) };
  }

  /** Buckets that have refilled are the same as no bucket: drop them to bound memory. */
  #forgetFull(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#perSecond >= this.#burst) this.#buckets.delete(k);
    }
  }
}
