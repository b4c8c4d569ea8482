import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { newId } from "@boxyard/platform";

// API tokens look like `byt_<token id>_<secret>`. The id part finds the row
// without a scan; only a sha256 of the 32-byte random secret is stored, which
// is enough because the secret has full entropy (no slow hash needed).
const PREFIX = "byt";
const TOKEN_RE = /^byt_(tok_[0-9a-z]{20})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  id: string;
  /** The whole bearer string; shown to the user once, never stored. */
  token: string;
  secretHash: Buffer;
}

export function mintToken(): MintedToken {
  const id = newId("tok");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `${PREFIX}_${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(token: string): { id: string; secret: string } | null {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const h = hashSecret(secret);
  return h.length === storedHash.length && timingSafeEqual(h, storedHash);
}
