export { HttpControlPlaneLink, HttpLinkError, type HttpLinkOptions } from "./http-link.ts";
export { imageKey } from "./image-key.ts";
export type { AgentCommands, ControlPlaneLink, FetchDesiredOptions } from "./link.ts";
export * from "./schemas.ts";
export * from "./builds.ts";
export * from "./secrets.ts";
export * from "./prebuilds.ts";
