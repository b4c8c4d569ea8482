// How the dashboard talks to the API: the typed SDK client over the browser's
// fetch, signed in either with the browser session (httpOnly cookie, CSRF
// token in a header on every call) or with an API token (Bearer).
import type { Box, BoxPort, Org, TemplateVersion, User } from "@boxyard/contract";
import { ApiError, BoxyardClient, readSse } from "@boxyard/sdk";
import type { z } from "zod";

export type BoxT = z.output<typeof Box>;
export type OrgT = z.output<typeof Org>;
export type UserT = z.output<typeof User>;
export type PortT = z.output<typeof BoxPort>;
export type TemplateT = z.output<typeof TemplateVersion> & { builtIn?: boolean };

export type Auth = { kind: "token"; token: string } | { kind: "session"; csrf: string };

/** The terminal page reads the token from the same place (apps/web/src/terminal.ts). */
export const TOKEN_KEY = "boxyard.token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function authHeaders(auth: Auth): Record<string, string> {
  return auth.kind === "token" ? { authorization: `Bearer ${auth.token}` } : { "x-csrf-token": auth.csrf };
}

export function makeClient(auth: Auth): BoxyardClient {
  const browserFetch: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.delete("user-agent");
    for (const [k, v] of Object.entries(authHeaders(auth))) headers.set(k, v);
    return fetch(input, { ...init, headers, credentials: "same-origin" });
  };
  return new BoxyardClient({
    baseUrl: window.location.origin,
    fetch: browserFetch,
    userAgent: "boxyard-web",
  });
}

/** The browser session, if this browser signed in through the identity provider. */
export async function currentSession(): Promise<{ user: UserT; csrfToken: string } | null> {
  const res = await fetch("/auth/session", { credentials: "same-origin" });
  if (!res.ok) return null;
  return (await res.json()) as { user: UserT; csrfToken: string };
}

export async function signOutSession(csrf: string): Promise<void> {
  await fetch("/auth/logout", {
    method: "POST",
    credentials: "same-origin",
    headers: { "x-csrf-token": csrf },
  });
}

/** Whether the server offers sign-in through an identity provider (it fills this in the page). */
export function oidcEnabled(): boolean {
  return document.querySelector('meta[name="boxyard-oidc"]')?.getAttribute("content") === "on";
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

export interface BoxTransition {
  from: string;
  to: string;
  reason: string | null;
  at: string;
}

export type BoxStreamEvent =
  | { kind: "state"; box: BoxT & { reason?: string } }
  | { kind: "transition"; transition: BoxTransition }
  /** The box's OOM guard killed a process; the box's state does not change. */
  | { kind: "oom_kill"; reason: string; at: string };

/**
 * Follows GET .../boxes/BOX/events: the box's current state first, then each
 * state change with its reason, until the box is deleted or `signal` aborts.
 * Reconnects after a dropped connection.
 */
export async function followBox(
  auth: Auth,
  org: string,
  box: string,
  onEvent: (e: BoxStreamEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const url = `/api/v1/orgs/${encodeURIComponent(org)}/boxes/${encodeURIComponent(box)}/events`;
  for (let attempt = 0; !signal.aborted; attempt++) {
    let ended = false;
    try {
      const res = await fetch(url, {
        headers: { accept: "text/event-stream", ...authHeaders(auth) },
        credentials: "same-origin",
        signal,
      });
      if (res.status === 404) return;
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      attempt = 0;
      for await (const ev of readSse(res.body)) {
        const data = JSON.parse(ev.data) as Record<string, unknown>;
        if (ev.event === "state") {
          const current = data as unknown as BoxT;
          onEvent({ kind: "state", box: current });
          if (current.actualState === "deleted") ended = true;
        } else if (ev.event === "oom_kill") {
          const t = data as unknown as BoxTransition;
          onEvent({ kind: "oom_kill", reason: t.reason ?? "", at: t.at });
        } else if (ev.event === "transition") {
          const t = data as unknown as BoxTransition;
          onEvent({ kind: "transition", transition: t });
          if (t.to === "deleted") ended = true;
        }
      }
      if (ended) return;
    } catch {
      if (signal.aborted) return;
    }
    // The stream ended without the box being deleted (server restart, network): come back.
    await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5))));
  }
}
