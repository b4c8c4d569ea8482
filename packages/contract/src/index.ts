export * from "./common.ts";
export { buildOpenApiDocument } from "./openapi.ts";
export * from "./orgs.ts";
export * from "./route.ts";
export * from "./routes.ts";
export * from "./system.ts";
export * from "./users.ts";
