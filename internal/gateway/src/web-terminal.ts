import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TicketSigner } from "@boxyard/auth";
import type { Session } from "@boxyard/runtime";
import { type WebSocket, WebSocketServer } from "ws";
import type { BoxConnector } from "./connector.ts";
import type { BoxRoute } from "./directory.ts";

export const TERMINAL_TICKET_AUDIENCE = "terminal";
/** Output kept while no browser is attached, replayed on reattach. */
const REPLAY_BYTES = 256 * 1024;
const MAX_FRAME_BYTES = 64 * 1024;

export interface WebTerminalOptions {
  /** Verifies terminal tickets (the control plane signs them). */
  signer: Pick<TicketSigner, "verify">;
  connector: BoxConnector;
  /** How long a shell waits for its browser to come back after the connection drops. */
  graceMs?: number;
  /** Origins allowed to open terminals besides the server's own (e.g. a dashboard on another host). */
  extraOrigins?: string[] | (() => string[]);
  /**
   * Whether the user may still use the box; asked every `revalidateMs` for
   * each open terminal, which is closed on a "no". A rejection (control plane
   * away) keeps it open.
   */
  revalidate?: (t: { userId: string; boxId: string; orgName: string; boxName: string }) => Promise<boolean>;
  revalidateMs?: number;
  onEvent?: (e: {
    type: "open" | "close" | "reattach";
    userId: string;
    boxId: string;
    orgId: string;
  }) => void;
}

interface Terminal {
  key: string;
  userId: string;
  boxId: string;
  orgId: string;
  orgName: string;
  boxName: string;
  session: Session;
  socket?: WebSocket;
  replay: Buffer[];
  replayBytes: number;
  graceTimer?: NodeJS.Timeout;
  exitCode?: number;
}

/**
 * The browser terminal's WebSocket side. The upgrade is refused unless the
 * Origin is the server's own (a missing Origin check was Gitpod's
 * CVE-2023-0957) and a fresh signed ticket names the user and box. A dropped
 * connection leaves the shell running for a grace period, and a browser that
 * comes back with the same terminal id reattaches to it.
 */
export class WebTerminalHub {
  readonly #opts: WebTerminalOptions;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  readonly #terminals = new Map<string, Terminal>();

  readonly #recheck: NodeJS.Timeout | undefined;

  constructor(opts: WebTerminalOptions) {
    this.#opts = opts;
    if (opts.revalidate) {
      this.#recheck = setInterval(() => void this.#revalidate(), opts.revalidateMs ?? 30_000);
      this.#recheck.unref();
    }
  }

  async #revalidate(): Promise<void> {
    for (const t of [...this.#terminals.values()]) {
      const ok = await this.#opts.revalidate!({
        userId: t.userId,
        boxId: t.boxId,
        orgName: t.orgName,
        boxName: t.boxName,
      }).catch(() => true);
      if (ok || this.#terminals.get(t.key) !== t) continue;
      if (t.socket) {
        sendJson(t.socket, { t: "error", message: "access to this box was revoked" });
        t.socket.close(4003, "access revoked");
      }
      t.session.signal("SIGHUP");
      this.#drop(t);
    }
  }

  get open(): number {
    return this.#terminals.size;
  }

  /** Output held for detached terminals, waiting for their browsers to come back. */
  get heldBytes(): number {
    let n = 0;
    for (const t of this.#terminals.values()) n += t.replayBytes;
    return n;
  }

  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    const host = req.headers.host;
    if (!origin || !host) return false;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return false;
    }
    if (parsed.host === host && (parsed.protocol === "http:" || parsed.protocol === "https:")) return true;
    const extra = this.#opts.extraOrigins;
    return (typeof extra === "function" ? extra() : (extra ?? [])).includes(parsed.origin);
  }

  /** Handles `GET ...?ticket=T&terminal=ID` upgrades; anything wrong gets a plain HTTP refusal. */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    route: Omit<BoxRoute, "boxId" | "orgId">,
  ): void {
    const refuse = (status: number, msg: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${msg}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${msg}\n`,
      );
    };
    if (!this.originAllowed(req)) {
      refuse(403, "Forbidden origin");
      return;
    }
    const url = new URL(req.url ?? "/", "http://x");
    const claims = this.#opts.signer.verify(url.searchParams.get("ticket") ?? "", TERMINAL_TICKET_AUDIENCE);
    if (!claims) {
      refuse(401, "Invalid or expired ticket");
      return;
    }
    const termId = url.searchParams.get("terminal") ?? "";
    if (!/^[A-Za-z0-9-]{8,64}$/.test(termId)) {
      refuse(400, "Bad terminal id");
      return;
    }
    const cols = clamp(Number(url.searchParams.get("cols")), 20, 500, 80);
    const rows = clamp(Number(url.searchParams.get("rows")), 5, 200, 24);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#attach(
        ws,
        { ...route, boxId: claims.boxId, orgId: claims.orgId },
        claims.userId,
        termId,
        cols,
        rows,
      ).catch((err) => {
        sendJson(ws, { t: "error", message: err instanceof Error ? err.message : String(err) });
        ws.close(1011, "session failed");
      });
    });
  }

  async #attach(ws: WebSocket, route: BoxRoute, userId: string, termId: string, cols: number, rows: number) {
    // The browser may type as soon as its socket is open, while the session is
    // still being opened in the box (a runsc exec takes a moment, longer on a
    // busy node): what arrives meanwhile waits for it instead of being lost,
    // and a socket that closes meanwhile still hands the session its grace period.
    let target: Terminal | undefined;
    let closed = false;
    const early: TerminalMessage[] = [];
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      let msg: TerminalMessage;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (target) applyMessage(target, msg);
      else if (early.length < EARLY_MESSAGES) early.push(msg);
    });
    ws.on("close", () => {
      closed = true;
      if (target) this.#detached(target, ws);
    });
    const key = `${userId}:${route.boxId}:${termId}`;
    let term = this.#terminals.get(key);
    if (term) {
      // Reattach: the same user, box and terminal id within the grace period.
      clearTimeout(term.graceTimer);
      term.socket?.close(4000, "replaced by a newer connection");
      term.socket = ws;
      for (const chunk of term.replay) ws.send(chunk);
      term.replay = [];
      term.replayBytes = 0;
      term.session.resize(cols, rows);
      this.#opts.onEvent?.({ type: "reattach", userId, boxId: route.boxId, orgId: route.orgId });
    } else {
      const session = await this.#opts.connector.session(route, {
        user: "dev",
        cwd: "/home/dev",
        pty: { cols, rows, term: "xterm-256color" },
      });
      const t: Terminal = {
        key,
        userId,
        boxId: route.boxId,
        orgId: route.orgId,
        orgName: route.orgName,
        boxName: route.boxName,
        session,
        socket: ws,
        replay: [],
        replayBytes: 0,
      };
      term = t;
      this.#terminals.set(key, t);
      this.#opts.onEvent?.({ type: "open", userId, boxId: route.boxId, orgId: route.orgId });
      session.stdout.on("data", (d: Buffer) => this.#output(t, d));
      session.stderr.on("data", (d: Buffer) => this.#output(t, d));
      session.exited.then((code) => {
        t.exitCode = code;
        if (t.socket) {
          sendJson(t.socket, { t: "exit", code });
          t.socket.close(1000, "shell exited");
        }
        this.#drop(t);
      });
    }
    target = term;
    for (const msg of early.splice(0)) applyMessage(term, msg);
    if (closed) this.#detached(term, ws);
  }

  /** The terminal's socket went away: the session waits the grace period for a reattach, then hangs up. */
  #detached(t: Terminal, ws: WebSocket) {
    if (t.socket !== ws || t.exitCode !== undefined) return;
    t.socket = undefined;
    t.graceTimer = setTimeout(() => {
      t.session.signal("SIGHUP");
      this.#drop(t);
    }, this.#opts.graceMs ?? 30_000);
  }

  #output(t: Terminal, d: Buffer) {
    if (t.socket && t.socket.readyState === t.socket.OPEN) {
      t.socket.send(d);
      return;
    }
    t.replay.push(d);
    t.replayBytes += d.length;
    while (t.replayBytes > REPLAY_BYTES && t.replay.length > 1) t.replayBytes -= t.replay.shift()!.length;
  }

  #drop(t: Terminal) {
    clearTimeout(t.graceTimer);
    if (this.#terminals.get(t.key) === t) {
      this.#terminals.delete(t.key);
      this.#opts.onEvent?.({ type: "close", userId: t.userId, boxId: t.boxId, orgId: t.orgId });
    }
  }

  close(): void {
    clearInterval(this.#recheck);
    for (const t of this.#terminals.values()) {
      t.socket?.close(1001, "server shutting down");
      t.session.signal("SIGHUP");
      this.#drop(t);
    }
    this.#wss.close();
  }
}

/** What the browser sends: input (`i`, data `d`) or a resize (`r`, columns `c`, rows `r`). */
interface TerminalMessage {
  t?: string;
  d?: unknown;
  c?: unknown;
  r?: unknown;
}

/** Messages kept while the session is being opened (keystrokes and resizes; more than a person types). */
const EARLY_MESSAGES = 1_000;

function applyMessage(t: Terminal, msg: TerminalMessage): void {
  if (msg.t === "i" && typeof msg.d === "string") t.session.stdin.write(msg.d);
  else if (msg.t === "r")
    t.session.resize(clamp(Number(msg.c), 20, 500, 80), clamp(Number(msg.r), 5, 200, 24));
}

function clamp(v: number, lo: number, hi: number, dflt: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : dflt;
}

function sendJson(ws: WebSocket, v: unknown) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(v));
}
