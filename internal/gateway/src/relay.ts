// A TCP relay into a box through a gateway in another process, for the
// control plane's port previews when the box's node has its own gateway.
// The control plane signs a short-lived ticket naming the box and port (with
// the key it shares with its gateways); the gateway checks it and answers an
// HTTP Upgrade to `boxyard-relay` with the bytes of the box's port.

import type { IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import type { TicketSigner } from "@boxyard/auth";
import type { BoxConnector } from "./connector.ts";
import type { BoxRoute } from "./directory.ts";

export const RELAY_PATH = "/_boxyard/relay";
export const RELAY_TICKET_AUDIENCE = "relay";
const RELAY_PROTOCOL = "boxyard-relay";
const RELAY_TICKET_TTL_S = 30;

interface RelayClaims {
  aud: string;
  exp: number;
  route: BoxRoute;
  port: number;
}

/**
 * Joins a client socket to a stream into the box, both ways, after writing
 * what the client already sent (`head`); either side ending ends the other.
 */
export function splice(client: Duplex, upstream: Duplex, head: Buffer = Buffer.alloc(0)): void {
  if (head.length > 0) upstream.write(head);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
  upstream.pipe(client);
  client.pipe(upstream);
}

/** The gateway's side: true when it took the upgrade (whether it then served or refused it). */
export function handleRelayUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  o: { verifier: () => Pick<TicketSigner, "verifyPayload"> | undefined; connector: BoxConnector },
): boolean {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname !== RELAY_PATH) return false;
  const refuse = (status: number, msg: string) =>
    socket.end(`HTTP/1.1 ${status} ${msg}\r\nConnection: close\r\n\r\n`);
  const claims = o
    .verifier()
    ?.verifyPayload<RelayClaims>(url.searchParams.get("ticket") ?? "", RELAY_TICKET_AUDIENCE);
  if (!claims || req.headers.upgrade !== RELAY_PROTOCOL) {
    refuse(401, "Unauthorized");
    return true;
  }
  socket.on("error", () => socket.destroy());
  o.connector.connectTcp(claims.route, claims.port).then(
    (upstream) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${RELAY_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`,
      );
      splice(socket, upstream, head);
    },
    () => refuse(502, "Bad Gateway"),
  );
  return true;
}

/**
 * The control plane's side: a BoxConnector whose TCP streams go through the
 * gateway at `gatewayUrl()`. It opens no sessions (those are the gateway's own).
 */
export class GatewayRelayConnector implements BoxConnector {
  constructor(
    private readonly o: {
      signer: Pick<TicketSigner, "signPayload">;
      gatewayUrl: () => Promise<string | null>;
    },
  ) {}

  async session(): Promise<never> {
    throw new Error("sessions go to the gateway directly");
  }

  async connectTcp(route: BoxRoute, port: number): Promise<Duplex> {
    const base = await this.o.gatewayUrl();
    if (!base) throw new Error("no gateway is serving this box's node");
    const ticket = this.o.signer.signPayload<RelayClaims>({
      aud: RELAY_TICKET_AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + RELAY_TICKET_TTL_S,
      route,
      port,
    });
    const url = new URL(`${RELAY_PATH}?ticket=${encodeURIComponent(ticket)}`, base);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        headers: { connection: "Upgrade", upgrade: RELAY_PROTOCOL },
        timeout: 15_000,
      });
      req.on("upgrade", (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on("response", (res) => {
        res.resume();
        reject(new Error(`the gateway refused the relay (HTTP ${res.statusCode})`));
      });
      req.on("timeout", () => req.destroy(new Error("the gateway did not answer")));
      req.on("error", reject);
      req.end();
    });
  }
}
