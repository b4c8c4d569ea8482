import { serverInfo } from "@boxyard/contract";
import type { RouteRegistrar } from "./registrar.ts";
import { SERVER_VERSION } from "./system.ts";

export interface ServerInfoSource {
  sshGateway: { host: string; port: number; hostKey: string } | null;
  oidc: boolean;
}

export function registerInfoRoute(r: RouteRegistrar, info: () => Promise<ServerInfoSource>): void {
  r.add(serverInfo, async () => ({ version: SERVER_VERSION, ...(await info()) }));
}
