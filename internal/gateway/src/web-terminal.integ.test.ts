// The browser terminal's WebSocket protocol: Origin and ticket checks (B4),
// input/output, resize, and reattaching after a dropped connection. Sessions
// are host processes here; the page in Chromium against a real box is tested
// end to end with the server.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TicketSigner } from "@boxyard/auth";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { HostProcessConnector } from "./testing/host-connector.ts";
import { TERMINAL_TICKET_AUDIENCE, WebTerminalHub } from "./web-terminal.ts";

let server: Server;
let hub: WebTerminalHub;
let base: string;
let home: string;
const signer = new TicketSigner(randomBytes(32));
const revoked = new Set<string>();
/** How long opening a session takes (a runsc exec on a busy node takes seconds). */
let sessionDelayMs = 0;

function ticket(over: Partial<{ exp: number; aud: string }> = {}) {
  return signer.sign({
    aud: over.aud ?? TERMINAL_TICKET_AUDIENCE,
    userId: "usr_a",
    boxId: "box_1",
    orgId: "org_1",
    exp: over.exp ?? Math.floor(Date.now() / 1000) + 60,
  });
}

function open(q: Record<string, string>, origin = base): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/t/ws?${new URLSearchParams(q)}`, { origin });
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode }));
    ws.once("error", () => {});
  });
}

function collect(ws: WebSocket): { text: () => string } {
  let out = "";
  ws.on("message", (d, isBinary) => {
    if (isBinary) out += d.toString();
  });
  return { text: () => out };
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "boxyard-wt-"));
  hub = new WebTerminalHub({
    signer,
    connector: (() => {
      const host = new HostProcessConnector(home);
      return {
        session: async (...a: Parameters<HostProcessConnector["session"]>) => {
          await new Promise((r) => setTimeout(r, sessionDelayMs));
          return host.session(...a);
        },
        connectTcp: (...a: Parameters<HostProcessConnector["connectTcp"]>) => host.connectTcp(...a),
      };
    })(),
    graceMs: 5_000,
    revalidate: async (t) => !revoked.has(t.userId),
    revalidateMs: 200,
  });
  server = createServer((_req, res) => res.end());
  server.on("upgrade", (req, socket, head) =>
    hub.handleUpgrade(req, socket, head, {
      boxName: "dev",
      orgName: "acme",
      nodeId: null,
      actualState: "running",
      desiredState: "running",
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  hub?.close();
  await new Promise((r) => server?.close(r));
  await rm(home, { recursive: true, force: true });
});

describe("web terminal websocket", () => {
  it("refuses a foreign or missing Origin before anything else (B4, CVE-2023-0957)", async () => {
    expect((await open({ ticket: ticket(), terminal: "abcdefgh-1" }, "https://evil.example")).status).toBe(
      403,
    );
    expect((await open({ ticket: ticket(), terminal: "abcdefgh-1" }, "null")).status).toBe(403);
    expect(hub.open).toBe(0);
  });

  it("refuses a missing, expired, forged or wrong-audience ticket", async () => {
    for (const t of ["", ticket({ exp: 1 }), ticket({ aud: "preview" }), `${ticket().slice(0, -3)}abc`]) {
      expect((await open({ ticket: t, terminal: "abcdefgh-1" })).status).toBe(401);
    }
    expect(hub.open).toBe(0);
  });

  it("runs a shell: input goes in, output comes out", async () => {
    const { ws } = await open({ ticket: ticket(), terminal: "term-0001", cols: "100", rows: "30" });
    const out = collect(ws!);
    ws!.send(JSON.stringify({ t: "i", d: "echo hello-$((40+2)); stty size\r" }));
    await waitFor(() => out.text().includes("hello-42") && out.text().includes("30 100"), {
      timeoutMs: 10_000,
      message: "the shell's answer",
    });
    ws!.send(JSON.stringify({ t: "r", c: 120, r: 40 }));
    ws!.send(JSON.stringify({ t: "i", d: "stty size\r" }));
    await waitFor(() => out.text().includes("40 120"), { timeoutMs: 10_000, message: "the resize" });
    ws!.close();
  });

  it("keeps what is typed while the session is still opening (none of it is lost)", async () => {
    sessionDelayMs = 1_500;
    try {
      const { ws } = await open({ ticket: ticket(), terminal: "term-0009" });
      const out = collect(ws!);
      ws!.send(JSON.stringify({ t: "r", c: 90, r: 20 }));
      ws!.send(JSON.stringify({ t: "i", d: "echo typed-" }));
      ws!.send(JSON.stringify({ t: "i", d: "early-$((6*7)); stty size\r" }));
      await waitFor(() => out.text().includes("typed-early-42") && out.text().includes("20 90"), {
        timeoutMs: 10_000,
        message: "the early input's answer",
      });
      ws!.close();
    } finally {
      sessionDelayMs = 0;
    }
  });

  it("reattaches to the same shell after a dropped connection, with what it printed meanwhile", async () => {
    const first = await open({ ticket: ticket(), terminal: "term-0002" });
    const a = collect(first.ws!);
    first.ws!.send(
      JSON.stringify({ t: "i", d: "export MARK=kept-$((6*7)); (sleep 0.5; echo late-output) &\r" }),
    );
    await waitFor(() => a.text().includes("kept"), { timeoutMs: 10_000 });
    first.ws!.terminate();
    // The background job prints while no browser is attached; the hub holds it.
    await waitFor(() => hub.heldBytes > 0, {
      timeoutMs: 10_000,
      message: "output held for the detached terminal",
    });
    const second = await open({ ticket: ticket(), terminal: "term-0002" });
    const b = collect(second.ws!);
    second.ws!.send(JSON.stringify({ t: "i", d: "echo $MARK\r" }));
    await waitFor(() => b.text().includes("kept-42") && b.text().includes("late-output"), {
      timeoutMs: 10_000,
      message: "the same shell after reattaching",
    });
    second.ws!.send(JSON.stringify({ t: "i", d: "exit\r" }));
    await waitFor(() => second.ws!.readyState === WebSocket.CLOSED, { timeoutMs: 10_000 });
  });

  it("closes an open terminal once its user loses access to the box", async () => {
    const { ws } = await open({ ticket: ticket(), terminal: "revoked-term-1" });
    expect(ws).toBeDefined();
    const closed = new Promise<number>((r) => ws!.once("close", (code) => r(code)));
    const before = hub.open;
    expect(before).toBeGreaterThan(0);
    revoked.add("usr_a");
    try {
      expect(await closed).toBe(4003);
      // Every terminal of that user goes, also ones waiting for their browser to come back.
      await waitFor(() => hub.open === 0, {
        timeoutMs: 5_000,
        message: "the user's terminals to be dropped",
      });
    } finally {
      revoked.delete("usr_a");
    }
  });
});
