import { type ErrorCode, errorCatalogue } from "./catalogue.ts";

export interface DomainErrorOptions {
  /** Human-readable explanation specific to this occurrence. */
  detail?: string;
  /** Extra members for the problem document (e.g. `limit`, `usage`, `errors`). */
  extensions?: Record<string, unknown>;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
  cause?: unknown;
  /**
   * For denials: what to write to the audit log (the org's chain, the action
   * that was refused). Never sent to the client.
   */
  audit?: { orgId: string | null; action: string; target?: { kind: string; id?: string; name?: string } };
}

/**
 * An error the API reports to its caller as problem+json. Anything that is not
 * a DomainError reaching the edge is a bug and becomes a 500 without details.
 */
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly audit: DomainErrorOptions["audit"];

  constructor(code: ErrorCode, opts: DomainErrorOptions = {}) {
    const entry = errorCatalogue[code];
    super(opts.detail ? `${entry.title}: ${opts.detail}` : entry.title, { cause: opts.cause });
    this.name = "DomainError";
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.detail = opts.detail;
    this.extensions = opts.extensions ?? {};
    this.headers = opts.headers ?? {};
    this.audit = opts.audit;
  }
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}
