/**
 * Thrown from reconcile() to stop retrying: the box becomes failed with
 * this code and message, shown to the user as lastError (permanent).
 */
export class TerminalError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TerminalError";
    this.code = code;
  }
}

/** A retryable reconcile failure with a stable code for lastError and metrics. */
export class RetryableError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetryableError";
    this.code = code;
  }
}

/** A compare-and-set write lost to a concurrent writer; the key is simply requeued. */
export class StaleWriteError extends Error {
  readonly code = "stale_write";
  constructor(what: string) {
    super(`${what} changed underneath this write; retrying with fresh state`);
    this.name = "StaleWriteError";
  }
}
