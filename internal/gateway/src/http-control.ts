// The control plane as a gateway in its own process sees it: the
// /api/v1/gateway/... routes over HTTP. Registration uses a site admin's API
// token and yields the gateway's own token, used for everything after it; a
// 401 later (the control plane forgot the token) registers again.

import { GATEWAY_TOKEN_HEADER, type GatewaySessionEvent } from "@boxyard/contract";
import type { z } from "zod";
import type { BoxRoute, GatewayDirectory, GatewayUser } from "./directory.ts";

export interface GatewayRegistrationInfo {
  name: string;
  httpUrl: string;
  sshHost: string;
  sshPort: number;
  hostKey: string;
}

export interface GatewayRegistration {
  gatewayId: string;
  gatewayToken: string;
  /** Base64 HMAC key of browser terminal tickets. */
  ticketKey: string;
  allowedOrigins: string[];
}

/** A session open/close for the control plane's audit log. */
export type GatewayAuditEvent = z.input<typeof GatewaySessionEvent>;

export class ControlPlaneError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ControlPlaneError";
  }
}

export interface HttpGatewayControlOptions {
  /** e.g. http://127.0.0.1:7080 */
  baseUrl: string;
  /** A site admin's API token, for registration. */
  registrationToken: string;
  /** What to register as; asked at each registration (the SSH port may be known only after listening). */
  info: () => GatewayRegistrationInfo;
  /** Per-request timeout; a hung control plane must not hold a login for long. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  onRegistered?: (reg: GatewayRegistration) => void;
}

export class HttpGatewayControl implements GatewayDirectory {
  #registration: GatewayRegistration | undefined;
  readonly #fetch: typeof fetch;

  constructor(private readonly o: HttpGatewayControlOptions) {
    this.#fetch = o.fetch ?? globalThis.fetch;
  }

  get registration(): GatewayRegistration | undefined {
    return this.#registration;
  }

  async register(): Promise<GatewayRegistration> {
    const reg = (await this.#request("POST", "/api/v1/gateway/register", this.o.info(), {
      authorization: `Bearer ${this.o.registrationToken}`,
    })) as GatewayRegistration;
    this.#registration = reg;
    this.o.onRegistered?.(reg);
    return reg;
  }

  async userForKey(fingerprint: string): Promise<GatewayUser | null> {
    const out = (await this.#call("lookup-key", { fingerprint })) as { user: GatewayUser | null };
    return out.user;
  }

  async boxForUser(userId: string, target: { box: string; org?: string }): Promise<BoxRoute | null> {
    const out = (await this.#call("lookup-box", { userId, ...target })) as { route: BoxRoute | null };
    return out.route;
  }

  async requestWake(userId: string, boxId: string): Promise<BoxRoute> {
    const out = (await this.#call("wake", { userId, boxId })) as { route: BoxRoute };
    return out.route;
  }

  async sendEvents(events: GatewayAuditEvent[]): Promise<number> {
    const out = (await this.#call("events", { events })) as { accepted: number };
    return out.accepted;
  }

  async #call(what: string, body: unknown): Promise<unknown> {
    const reg = this.#registration ?? (await this.register());
    try {
      return await this.#request("POST", `/api/v1/gateway/gateways/${reg.gatewayId}/${what}`, body, {
        [GATEWAY_TOKEN_HEADER]: reg.gatewayToken,
      });
    } catch (err) {
      if (!(err instanceof ControlPlaneError) || err.status !== 401) throw err;
      const again = await this.register();
      return this.#request("POST", `/api/v1/gateway/gateways/${again.gatewayId}/${what}`, body, {
        [GATEWAY_TOKEN_HEADER]: again.gatewayToken,
      });
    }
  }

  async #request(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<unknown> {
    const res = await this.#fetch(new URL(path, this.o.baseUrl), {
      method,
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let code = `http_${res.status}`;
      let detail = text.slice(0, 300);
      try {
        const p = JSON.parse(text) as { code?: string; detail?: string; title?: string };
        code = p.code ?? code;
        detail = p.detail ?? p.title ?? detail;
      } catch {
        // Not a problem document.
      }
      throw new ControlPlaneError(res.status, code, detail);
    }
    return text ? JSON.parse(text) : undefined;
  }
}

/**
 * Session audit events on their way to the control plane. While it is away
 * they wait here (up to `maxEvents`, oldest dropped first and counted) and go
 * out in order once it answers again. An empty send doubles as the gateway's
 * heartbeat, so the control plane knows the gateway is there.
 */
export class AuditEventOutbox {
  readonly #queue: GatewayAuditEvent[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #lastSentAt = 0;

  constructor(
    private readonly o: {
      send: (events: GatewayAuditEvent[]) => Promise<unknown>;
      onError?: (err: unknown, pending: number) => void;
      intervalMs?: number;
      heartbeatMs?: number;
      maxEvents?: number;
    },
  ) {}

  get pending(): number {
    return this.#queue.length;
  }

  get dropped(): number {
    return this.#dropped;
  }

  push(e: GatewayAuditEvent): void {
    this.#queue.push(e);
    const max = this.o.maxEvents ?? 10_000;
    while (this.#queue.length > max) {
      this.#queue.shift();
      this.#dropped++;
    }
    void this.flush();
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.o.intervalMs ?? 2_000);
    this.#timer.unref();
  }

  /** Sends what is queued (or a heartbeat when due); one send at a time. */
  flush(): Promise<void> {
    this.#sending ??= this.#send().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  async #send(): Promise<void> {
    const heartbeatDue = Date.now() - this.#lastSentAt >= (this.o.heartbeatMs ?? 10_000);
    if (this.#queue.length === 0 && !heartbeatDue) return;
    const batch = this.#queue.slice(0, 500);
    try {
      await this.o.send(batch);
      this.#queue.splice(0, batch.length);
      this.#lastSentAt = Date.now();
    } catch (err) {
      this.o.onError?.(err, this.#queue.length);
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
