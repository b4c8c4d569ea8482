import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Short-lived signed tickets for browser connections (web terminal
 * WebSockets): the API mints one for an authenticated user and a box, and
 * the gateway verifies it locally with the shared key, so opening a terminal
 * needs no database round trip and keeps working in a control-plane outage.
 */
export interface TicketClaims {
  /** What the ticket is for, e.g. "terminal". */
  aud: string;
  userId: string;
  boxId: string;
  orgId: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export class TicketSigner {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error("ticket key must be at least 32 bytes");
  }

  static async fromFile(path: string): Promise<TicketSigner> {
    try {
      return new TicketSigner(Buffer.from((await readFile(path, "utf8")).trim(), "base64"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, key.toString("base64"), { mode: 0o600 });
    await rename(tmp, path);
    // Another process may have won the race; whatever is on disk now is the key.
    return new TicketSigner(Buffer.from((await readFile(path, "utf8")).trim(), "base64"));
  }

  /** The key, base64, for a gateway in another process that verifies terminal tickets. */
  exportKey(): string {
    return this.key.toString("base64");
  }

  static fromBase64(key: string): TicketSigner {
    return new TicketSigner(Buffer.from(key, "base64"));
  }

  sign(claims: TicketClaims): string {
    return this.signPayload(claims);
  }

  /** The claims when the signature is good, the audience matches and it has not expired; else null. */
  verify(ticket: string, aud: string, nowMs = Date.now()): TicketClaims | null {
    return this.verifyPayload<TicketClaims>(ticket, aud, nowMs);
  }

  /** Signs any JSON payload carrying an audience and an expiry (e.g. a pending login kept in a cookie). */
  signPayload<T extends { aud: string; exp: number }>(payload: T): string {
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return `${body}.${this.#mac(body)}`;
  }

  verifyPayload<T extends { aud: string; exp: number }>(
    ticket: string,
    aud: string,
    nowMs = Date.now(),
  ): T | null {
    const [body, mac, extra] = ticket.split(".");
    if (!body || !mac || extra !== undefined) return null;
    const want = Buffer.from(this.#mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    let claims: T;
    try {
      claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as T;
    } catch {
      return null;
    }
    if (claims.aud !== aud || typeof claims.exp !== "number" || claims.exp * 1000 <= nowMs) return null;
    return claims;
  }

  #mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}
