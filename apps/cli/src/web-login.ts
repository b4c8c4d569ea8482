// `boxyard login URL` without --token: sign in in a browser. The CLI listens
// on a loopback port, opens (or prints) the server's /auth/cli page with a
// PKCE challenge, waits for the browser to come back with a one-time code,
// and exchanges code + verifier for an API token.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { CliError } from "./context.ts";

export interface WebLoginResult {
  token: string;
  username: string;
}

function openBrowser(url: string): boolean {
  const cmd = process.platform === "darwin" ? "open" : "xdg-open";
  try {
    const child = spawn(cmd, [url], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export async function webLogin(
  serverUrl: string,
  opts: { open: boolean; timeoutMs?: number; say: (line: string) => void },
): Promise<WebLoginResult> {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const state = randomBytes(16).toString("base64url");
  let resolveCode: (code: string) => void = () => {};
  let rejectCode: (err: Error) => void = () => {};
  const codeArrived = new Promise<string>((resolve, reject) => {
    resolveCode = resolve;
    rejectCode = reject;
  });
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    if (u.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    const code = u.searchParams.get("code");
    if (u.searchParams.get("state") !== state || !code) {
      res
        .writeHead(400, { "content-type": "text/plain; charset=utf-8" })
        .end("This login link is not from this `boxyard login`.\n");
      return;
    }
    res
      .writeHead(200, { "content-type": "text/plain; charset=utf-8" })
      .end("Boxyard CLI: you are signed in. You can close this tab and return to the terminal.\n");
    resolveCode(code);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const client = `boxyard CLI on ${hostname()}`.replace(/[^A-Za-z0-9 ._-]/g, "-").slice(0, 60);
  const url = `${serverUrl.replace(/\/+$/, "")}/auth/cli?${new URLSearchParams({ port: String(port), state, challenge, client })}`;
  const timer = setTimeout(
    () => rejectCode(new CliError("nobody approved the login in time", "run `boxyard login URL` again")),
    opts.timeoutMs ?? 5 * 60_000,
  );
  try {
    opts.say(`Open this page to sign in and approve the CLI:\n\n  ${url}\n`);
    if (opts.open && openBrowser(url)) opts.say("(opening it in your browser)");
    opts.say("Waiting for the approval…");
    const code = await codeArrived;
    const res = await fetch(`${serverUrl.replace(/\/+$/, "")}/auth/cli/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code, verifier }),
    });
    const body = (await res.json().catch(() => ({}))) as {
      token?: string;
      username?: string;
      detail?: string;
    };
    if (!res.ok || !body.token || !body.username)
      throw new CliError(
        `the server refused the login (${body.detail ?? `HTTP ${res.status}`})`,
        "run `boxyard login URL` again",
      );
    return { token: body.token, username: body.username };
  } finally {
    clearTimeout(timer);
    server.close();
  }
}
