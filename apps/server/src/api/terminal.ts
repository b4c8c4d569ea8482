import type { TicketSigner } from "@boxyard/auth";
import { createTerminalTicket } from "@boxyard/contract";
import { TERMINAL_TICKET_AUDIENCE } from "@boxyard/gateway";
import { authorizeBox } from "./boxes.ts";
import type { RouteRegistrar } from "./registrar.ts";

/** Tickets live a minute: long enough to open the WebSocket, too short to be worth stealing. */
const TICKET_TTL_S = 60;

export function registerTerminalRoutes(
  r: RouteRegistrar,
  signer: TicketSigner,
  /** ws(s)://host:port of a separate gateway serving terminals, or null when this process does. */
  gatewayWsBase: () => Promise<string | null>,
): void {
  const { deps } = r;
  r.add(createTerminalTicket, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "connect");
    const base = await gatewayWsBase();
    const websocketPath = `/api/v1/orgs/${ctx.params.org}/boxes/${ctx.params.box}/terminal/ws`;
    const exp = Math.floor(deps.clock.now().getTime() / 1000) + TICKET_TTL_S;
    return {
      ticket: signer.sign({
        aud: TERMINAL_TICKET_AUDIENCE,
        userId: ctx.actor.user.id,
        boxId: box.id,
        orgId: access.orgId,
        exp,
      }),
      expiresAt: new Date(exp * 1000).toISOString(),
      websocketPath,
      websocketUrl: base ? `${base}${websocketPath}` : null,
    };
  });
}
