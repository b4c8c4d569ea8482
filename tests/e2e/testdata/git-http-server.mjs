// A git smart-HTTP server for tests: `git http-backend` (CGI) behind node's
// HTTP server. Repositories under ROOT/public need nothing; under
// ROOT/private they need HTTP Basic with the password TOKEN (any user).
// Each request is logged on stdout as one JSON line (never the password).
// Usage: node git-http-server.mjs HOST PORT ROOT TOKEN
import { spawn } from "node:child_process";
import { createServer } from "node:http";

const [host, port, root, token] = process.argv.slice(2);

function authorized(req) {
  const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
  if (!m) return false;
  const [, , password] = /^([^:]*):(.*)$/.exec(Buffer.from(m[1], "base64").toString("utf8")) ?? [];
  return password === token;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const isPrivate = url.pathname.startsWith("/private/");
  const auth = req.headers.authorization ? (authorized(req) ? "good" : "bad") : "none";
  process.stdout.write(`${JSON.stringify({ method: req.method, path: url.pathname, auth })}\n`);
  if (isPrivate && auth !== "good") {
    res.writeHead(401, { "www-authenticate": 'Basic realm="test"' });
    res.end("authentication required\n");
    return;
  }
  const cgi = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method,
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_ADDR: req.socket.remoteAddress ?? "",
      ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: req.headers["git-protocol"] } : {}),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on("data", (chunk) => {
    if (headersDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers = {};
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      if (k === "status") status = Number.parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  cgi.on("close", () => res.end());
});
server.listen(Number(port), host, () =>
  process.stdout.write(`${JSON.stringify({ listening: `${host}:${port}` })}\n`),
);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
