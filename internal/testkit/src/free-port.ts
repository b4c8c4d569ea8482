// A TCP port that was free a moment ago, from the kernel's ephemeral range.
// Someone else may take it before the caller binds, so callers that can
// listen on port 0 themselves should do that instead.

import { createServer } from "node:net";

export function freePort(options: { host?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen({ port: 0, host: options.host ?? "127.0.0.1" }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : undefined;
      server.close(() => (port === undefined ? reject(new Error("no port assigned")) : resolve(port)));
    });
  });
}
