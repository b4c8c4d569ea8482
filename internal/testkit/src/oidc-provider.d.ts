// Just what the test identity provider uses of oidc-provider (it ships no types).
declare module "oidc-provider" {
  import type { Server } from "node:http";
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    listen(port: number): Server;
    on(event: string, listener: (...args: never[]) => void): this;
  }
}
