// The browser terminal: xterm.js on a WebSocket to the gateway. Bundled by
// scripts/build.mjs into dist/web/terminal.js (no CDN).
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";

const TOKEN_KEY = "boxyard.token";
const { org = "", box = "" } = document.body.dataset;
const status = document.getElementById("status")!;
const screen = document.getElementById("terminal")!;

function say(text: string): void {
  status.textContent = text;
}

/** The dashboard keeps a pasted token for its tab (sessionStorage); this page's own form keeps it in localStorage. */
function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
}

function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

/** How this page proves who it is: an API token, or the browser session (cookie plus its CSRF token). */
type Credentials = { bearer: string } | { csrf: string };

async function browserSession(): Promise<Credentials | null> {
  const res = await fetch("/auth/session", { credentials: "same-origin" }).catch(() => null);
  if (!res?.ok) return null;
  const body = (await res.json()) as { csrfToken?: string };
  return body.csrfToken ? { csrf: body.csrfToken } : null;
}

/** Without a saved token, ask for one (the dashboard's sign-in stores it in the same place). */
function askForToken(): Promise<string> {
  const form = document.getElementById("signin") as HTMLFormElement;
  form.hidden = false;
  return new Promise((resolve) => {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = (document.getElementById("token") as HTMLInputElement).value.trim();
      localStorage.setItem(TOKEN_KEY, value);
      form.hidden = true;
      resolve(value);
    });
  });
}

async function fetchTicket(creds: Credentials): Promise<{ ticket: string; url: string }> {
  const res = await fetch(
    `/api/v1/orgs/${encodeURIComponent(org)}/boxes/${encodeURIComponent(box)}/terminal-ticket`,
    {
      method: "POST",
      credentials: "same-origin",
      headers:
        "bearer" in creds ? { authorization: `Bearer ${creds.bearer}` } : { "x-csrf-token": creds.csrf },
    },
  );
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401 && "bearer" in creds) forgetToken();
    throw new Error(body.detail ? `${body.title}: ${body.detail}` : (body.title ?? `HTTP ${res.status}`));
  }
  // A separate gateway serves the WebSocket when the server names one; else this origin does.
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url =
    typeof body.websocketUrl === "string" && body.websocketUrl
      ? body.websocketUrl
      : `${proto}//${location.host}${body.websocketPath}`;
  return { ticket: body.ticket as string, url };
}

function terminalId(): string {
  const key = `boxyard.terminal.${org}.${box}`;
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(key, id);
  }
  return id;
}

async function main(): Promise<void> {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  window.addEventListener("resize", () => fit.fit());

  let ws: WebSocket | undefined;
  let exited = false;
  let attempt = 0;
  const encoder = JSON.stringify;
  term.onData((d) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(encoder({ t: "i", d }));
  });
  term.onResize(({ cols, rows }) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(encoder({ t: "r", c: cols, r: rows }));
  });

  const connect = async (): Promise<void> => {
    say(attempt === 0 ? `Connecting to ${box}…` : `Reconnecting to ${box} (attempt ${attempt})…`);
    const saved = token();
    const creds: Credentials = saved
      ? { bearer: saved }
      : ((await browserSession()) ?? { bearer: await askForToken() });
    let ticket: string;
    let wsUrl: string;
    try {
      ({ ticket, url: wsUrl } = await fetchTicket(creds));
    } catch (err) {
      say(`Cannot open a terminal: ${(err as Error).message}`);
      if ("bearer" in creds && !token()) {
        await askForToken();
        return connect();
      }
      return;
    }
    const q = new URLSearchParams({
      ticket,
      terminal: terminalId(),
      cols: String(term.cols),
      rows: String(term.rows),
    });
    const socket = new WebSocket(`${wsUrl}?${q}`);
    socket.binaryType = "arraybuffer";
    ws = socket;
    socket.onopen = () => {
      attempt = 0;
      say(`Connected to ${box}.`);
      term.focus();
    };
    socket.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) {
        term.write(new Uint8Array(ev.data));
        return;
      }
      const msg = JSON.parse(String(ev.data)) as { t: string; code?: number; message?: string };
      if (msg.t === "exit") {
        exited = true;
        say(`The shell exited (status ${msg.code}). Reload the page for a new one.`);
      } else if (msg.t === "error") say(`Error: ${msg.message}`);
    };
    socket.onclose = () => {
      if (exited || ws !== socket) return;
      // A network blip: come back to the same shell while the server keeps it.
      attempt++;
      if (attempt > 8) return say("Disconnected. Reload the page to try again.");
      setTimeout(connect, Math.min(8000, 250 * 2 ** attempt));
    };
  };
  await connect();
}

main().catch((err) => say(`Error: ${(err as Error).message}`));
