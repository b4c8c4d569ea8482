import type { BoxRoute, GatewayDirectory, GatewayUser } from "./directory.ts";

export interface CachedDirectoryOptions {
  /** Answers younger than this are served without asking the control plane (revocation lag). */
  freshMs?: number;
  /** When the control plane cannot answer, answers up to this old are still used (outage rule). */
  staleIfErrorMs?: number;
  now?: () => number;
  onStale?: (what: string, err: unknown) => void;
}

interface Entry<T> {
  value: T;
  at: number;
}

/**
 * Keeps the gateway working through a control-plane or database outage:
 * logins to running boxes keep working from the last known answers for a
 * bounded time. Only positive answers are kept; a "no" is never served from
 * the cache, and a fresh "no" (revoked key, removed member) replaces a cached
 * "yes" at once.
 */
export class CachedGatewayDirectory implements GatewayDirectory {
  readonly #inner: GatewayDirectory;
  readonly #freshMs: number;
  readonly #staleMs: number;
  readonly #now: () => number;
  readonly #onStale: CachedDirectoryOptions["onStale"];
  readonly #users = new Map<string, Entry<GatewayUser>>();
  readonly #boxes = new Map<string, Entry<BoxRoute>>();

  constructor(inner: GatewayDirectory, opts: CachedDirectoryOptions = {}) {
    this.#inner = inner;
    this.#freshMs = opts.freshMs ?? 5_000;
    this.#staleMs = opts.staleIfErrorMs ?? 15 * 60_000;
    this.#now = opts.now ?? Date.now;
    this.#onStale = opts.onStale;
  }

  userForKey(fingerprint: string): Promise<GatewayUser | null> {
    return this.#lookup(this.#users, fingerprint, () => this.#inner.userForKey(fingerprint));
  }

  boxForUser(userId: string, target: { box: string; org?: string }): Promise<BoxRoute | null> {
    const key = `${userId}\0${target.box}\0${target.org ?? ""}`;
    return this.#lookup(this.#boxes, key, () => this.#inner.boxForUser(userId, target));
  }

  /** Forget a box (after a state change) so the next lookup asks again. */
  invalidateBox(boxId: string): void {
    for (const [k, e] of this.#boxes) if (e.value.boxId === boxId) this.#boxes.delete(k);
  }

  async #lookup<T>(
    cache: Map<string, Entry<T>>,
    key: string,
    load: () => Promise<T | null>,
  ): Promise<T | null> {
    const hit = cache.get(key);
    const now = this.#now();
    if (hit && now - hit.at < this.#freshMs) return hit.value;
    try {
      const value = await load();
      if (value === null) cache.delete(key);
      else cache.set(key, { value, at: now });
      return value;
    } catch (err) {
      if (hit && now - hit.at < this.#staleMs) {
        this.#onStale?.(key, err);
        return hit.value;
      }
      throw err;
    }
  }
}
