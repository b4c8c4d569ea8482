export { type Actor, authenticateBearer } from "./authenticate.ts";
export { hashSecret, type MintedToken, mintToken, parseToken, secretMatches } from "./tokens.ts";
export { type TicketClaims, TicketSigner } from "./tickets.ts";
