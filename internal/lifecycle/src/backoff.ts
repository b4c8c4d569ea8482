export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** 0..1 fraction of the delay drawn at random ("full jitter" when 1). */
  jitter?: number;
  random?: () => number;
}

/**
 * Capped exponential backoff with jitter (AWS Builders' Library), so many
 * boxes failing together do not retry in lock-step.
 */
export function backoffMs(attempts: number, opts: BackoffOptions): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  const jitter = opts.jitter ?? 0.5;
  const r = (opts.random ?? Math.random)();
  return Math.max(1, Math.round(exp * (1 - jitter) + exp * jitter * r));
}
