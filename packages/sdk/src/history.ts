// A box's history in plain words: `boxyard show`, `boxyard events` and the
// dashboard's box page all print an entry of GET .../history the same way.
import type { BoxHistoryEntry } from "@boxyard/contract";
import type { z } from "zod";

export type BoxHistoryEntryT = z.output<typeof BoxHistoryEntry>;

export interface HistoryLine {
  /** Who acted: a user's name, a system actor, or "platform" for a state change. */
  who: string;
  /** What happened, as a sentence without its subject. */
  what: string;
  /** A failure, a refusal or a move to `failed`: shown as an error. */
  bad: boolean;
}

type Details = Record<string, string | number | boolean>;

const SESSIONS: Record<string, string> = {
  shell: "a shell",
  exec: "an exec session",
  sftp: "an SFTP session",
  "port-forward": "a port forward",
};

function session(d: Details): string {
  return (typeof d.kind === "string" ? SESSIONS[d.kind] : undefined) ?? "a session";
}

const ACTIONS: Record<string, (d: Details) => string> = {
  "box.create": (d) => `created the box${d.template ? ` from ${d.template} v${d.templateVersion}` : ""}`,
  "box.start": () => "asked it to start",
  "box.stop": () => "asked it to stop",
  "box.pause": (d) => `asked it to pause${d.mode === "cold" ? " (cold, to disk)" : ""}`,
  "box.resume": () => "asked it to resume",
  "box.delete": () => "deleted it",
  "box.exec": (d) => `ran ${d.program ?? "a command"}`,
  "box.port.share": (d) =>
    d.visibility === "private"
      ? `made port ${d.port} private`
      : `shared port ${d.port} with ${d.visibility === "org" ? "the org" : "anyone with the link"}`,
  "box.session.open": (d) => `opened ${session(d)} over SSH`,
  "box.session.close": (d) =>
    `closed ${session(d)} over SSH${d.exitCode !== undefined ? ` (exit ${d.exitCode})` : ""}`,
  "box.terminal.open": () => "opened the browser terminal",
  "box.terminal.close": () => "closed the browser terminal",
};

export function historyLine(e: BoxHistoryEntryT): HistoryLine {
  if (e.kind === "oom_kill") return { who: "platform", what: e.reason, bad: true };
  if (e.kind === "state") {
    const move = e.from ? `${e.from} -> ${e.to}` : e.to;
    return { who: "platform", what: e.reason ? `${move}: ${e.reason}` : move, bad: e.to === "failed" };
  }
  const d = e.details;
  const say = ACTIONS[e.action];
  let what = say ? say(d) : e.action;
  if (d.noop === true) what += " (it already was)";
  if (typeof d.reason === "string") what += ` (${d.reason})`;
  if (e.result !== "success") what += `: ${e.result}`;
  return { who: e.actor.name ?? e.actor.kind, what, bad: e.result !== "success" };
}
