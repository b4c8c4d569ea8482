// Test fixture: starts the private PostgreSQL in the directory given as the
// first argument, prints {"pid", "url"} as one JSON line, and then waits to be
// killed, standing in for a `boxyard server` that dies with SIGKILL.

import { startPrivatePostgres } from "../private-postgres.ts";

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error("usage: hold-postgres.ts DATA_DIR");
const server = await startPrivatePostgres({ dataDir });
process.stdout.write(`${JSON.stringify({ pid: server.pid(), url: server.url })}\n`);
setInterval(() => {}, 60_000);
