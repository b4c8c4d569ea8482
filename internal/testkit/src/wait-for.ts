// Tests wait on a condition with a deadline, never on a fixed sleep: the
// condition is polled until it holds, and the failure names what was awaited.

export class WaitTimeoutError extends Error {
  readonly code = "wait_timeout";

  constructor(message: string, timeoutMs: number, lastError: unknown) {
    const detail =
      lastError === undefined ? "" : ` (last error: ${(lastError as Error).message ?? lastError})`;
    super(`timed out after ${timeoutMs} ms waiting for ${message}${detail}`);
    this.name = "WaitTimeoutError";
  }
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is being awaited, for the error: "the box to be running". */
  message?: string;
}

/**
 * Polls `condition` until it returns a value other than false/undefined/null
 * and returns that value. A throw counts as "not yet"; the last one is reported.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, false | undefined | null>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== false && value !== undefined && value !== null)
        return value as Exclude<T, false | undefined | null>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline)
      throw new WaitTimeoutError(options.message ?? "a condition", timeoutMs, lastError);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
