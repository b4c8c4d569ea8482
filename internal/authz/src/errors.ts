import { DomainError, type ErrorCode } from "@boxyard/errors";

/**
 * A store call the actor may not make. It is a DomainError, so the edge
 * answers as the routes always have: `*_not_found` (404) when the object
 * lies in an org the actor cannot see, `forbidden` (403) inside a visible one.
 */
export class NotAuthorized extends DomainError {
  constructor(code: ErrorCode, detail: string, audit?: { orgId: string; action: string }) {
    super(code, { detail, ...(audit ? { audit } : {}) });
    this.name = "NotAuthorized";
  }
}

/** A store call made without an actor: a bug in the caller, never a request to let through. */
export class NoActorError extends DomainError {
  constructor(method: string) {
    super("unauthorized", { detail: `${method} was called without an actor` });
    this.name = "NoActorError";
  }
}
