// Idempotency-Key for POST and DELETE: the first request with a key runs and
// its response is stored; a retry with the same key and the same request
// gets that stored response; the same key with a different request is 422.
// The unique (user_id, key) row is what makes concurrent duplicates safe:
// exactly one claims it, the others wait for its answer.

import { createHash } from "node:crypto";
import type { AuthorizedStore } from "@boxyard/authz";
import { DomainError } from "@boxyard/errors";

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** A claim older than this with no response belongs to a server that died mid-request. */
const ABANDONED_MS = 60_000;

export interface IdempotentRequest {
  userId: string;
  key: string;
  method: string;
  path: string;
  body: unknown;
}

export interface StoredResponse {
  status: number;
  body: unknown;
  replayed: boolean;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

export function requestHash(method: string, path: string, body: unknown): string {
  return createHash("sha256")
    .update(`${method} ${path}\n${canonical(body)}`)
    .digest("hex");
}

/** `store` is the caller's: idempotency records are the requesting user's own. */
export async function withIdempotency(
  store: AuthorizedStore,
  req: IdempotentRequest,
  run: () => Promise<{ status: number; body: unknown } | undefined>,
  opts: { waitMs?: number } = {},
): Promise<StoredResponse | undefined> {
  if (!KEY_RE.test(req.key)) {
    throw new DomainError("validation_failed", {
      detail: "Idempotency-Key must be 1-255 printable ASCII characters",
    });
  }
  const hash = requestHash(req.method, req.path, req.body);
  const deadline = Date.now() + (opts.waitMs ?? 10_000);
  const k = { userId: req.userId, key: req.key };
  for (;;) {
    if (await store.claimIdempotencyKey({ ...k, method: req.method, path: req.path, requestHash: hash })) {
      let out: { status: number; body: unknown } | undefined;
      try {
        out = await run();
      } catch (err) {
        // Only successes are remembered: a failed request may be retried with the same key.
        await store.releaseIdempotencyKey(k).catch(() => {});
        throw err;
      }
      if (out) await store.completeIdempotencyKey({ ...k, status: out.status, body: out.body });
      else await store.releaseIdempotencyKey(k);
      return out && { ...out, replayed: false };
    }
    const row = await store.getIdempotencyKey(req.userId, req.key);
    if (!row) continue;
    if (row.request_hash !== hash) {
      throw new DomainError("idempotency_key_reused", {
        detail: `the key was first used for ${row.method} ${row.path} with a different body`,
      });
    }
    if (row.response_status !== null)
      return { status: row.response_status, body: row.response_body, replayed: true };
    if (Date.now() >= deadline)
      throw new DomainError("idempotency_key_in_flight", { headers: { "retry-after": "1" } });
    await store.releaseIdempotencyKey({ ...k, olderThanMs: ABANDONED_MS });
    await new Promise((r) => setTimeout(r, 25));
  }
}
