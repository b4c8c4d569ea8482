// Following a template version's image build from the CLI: the build's log
// lines as they arrive (stdout), and its phase with the elapsed time (one
// live line on a terminal, a plain line per change otherwise, on stderr).
// Ctrl-C stops following, never the build, and says so (as wait.ts does for
// boxes).

import {
  getTemplateBuild,
  getTemplateBuildLogs,
  listTemplateVersions,
  type TemplateBuild,
} from "@boxyard/contract";
import { type Connection, CliError } from "../context.ts";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** `python` or `python@3`; without a version, the template's latest. */
export async function resolveTemplateRef(
  conn: Connection,
  org: string,
  ref: string,
): Promise<{ name: string; version: number }> {
  const m = /^([^@]+)(?:@(\d+))?$/.exec(ref);
  if (!m) throw new CliError(`not a template reference: ${ref}`, "use NAME or NAME@VERSION, e.g. python@2");
  const name = m[1]!;
  if (m[2]) return { name, version: Number(m[2]) };
  const { items } = await conn.client.call(listTemplateVersions, { params: { org, name } });
  return { name, version: items[0]!.version };
}

export interface FollowOptions {
  org: string;
  name: string;
  version: number;
  /** Print the log as it arrives (off for --json). */
  showLog: boolean;
  log?: NodeJS.WritableStream;
  status?: NodeJS.WriteStream;
  timeoutMs?: number;
}

/** Follows a build to its end; returns it when ready, throws a CliError when it failed. */
export async function followBuild(conn: Connection, o: FollowOptions): Promise<TemplateBuild> {
  const out = o.status ?? process.stderr;
  const logOut = o.log ?? process.stdout;
  const tty = out.isTTY === true;
  const ref = `${o.name}@${o.version}`;
  const started = Date.now();
  const deadline = started + (o.timeoutMs ?? 60 * 60_000);
  const params = { org: o.org, name: o.name, version: o.version };
  let offset = 0;
  let last = "";
  let frame = 0;
  let hinted = false;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSigint);
  const secs = () => ((Date.now() - started) / 1000).toFixed(1);
  const clear = () => {
    if (tty) out.write("\r\x1b[K");
  };
  try {
    for (;;) {
      if (interrupted) {
        clear();
        out.write(
          `Stopped following; the build of ${ref} carries on. 'boxyard templates build ${ref}' shows where it is.\n`,
        );
        throw new CliError("interrupted", undefined, 130);
      }
      const build = await conn.client.call(getTemplateBuild, { params });
      if (o.showLog && build.logSize > offset) {
        const text = await conn.client.call(getTemplateBuildLogs, {
          params,
          query: { offset, end: build.logSize },
        });
        offset = build.logSize;
        if (text) {
          clear();
          logOut.write(text.endsWith("\n") ? text : `${text}\n`);
        }
      }
      if (build.status !== last) {
        clear();
        if (!tty || last === "") out.write(`${ref}: ${build.status} (${secs()}s)\n`);
        last = build.status;
      }
      if (build.status === "queued" && !hinted && Date.now() - started > 30_000) {
        hinted = true;
        clear();
        out.write(
          `${ref}: no node has taken the build yet; is a node agent running? ('boxyard nodes' lists them)\n`,
        );
      }
      if (build.status === "ready") {
        clear();
        out.write(
          `${ref}: ready after ${secs()}s${build.cacheHit ? " (cache hit: nothing was rebuilt)" : ""}; layers ${build.layers.join(", ")}\n`,
        );
        return build;
      }
      if (build.status === "failed") {
        clear();
        throw new CliError(
          `the build of ${ref} failed: ${build.error ?? "no reason given"}`,
          `'boxyard templates build ${ref} --logs' has the whole log; push a fixed version`,
        );
      }
      if (Date.now() > deadline)
        throw new CliError(`${ref} is still ${build.status} after ${secs()}s; not following longer`);
      if (tty) out.write(`\r\x1b[K${SPINNER[frame++ % SPINNER.length]} ${ref}: ${build.status}  ${secs()}s`);
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** `boxyard templates build NAME[@VERSION]` without --follow: the build as a few lines. */
export function describeBuild(ref: string, b: TemplateBuild): string {
  const lines = [
    `${ref}: ${b.status}${b.cacheHit ? " (cache hit)" : ""}`,
    `  node:     ${b.node ?? "-"}`,
    `  queued:   ${b.createdAt}`,
    `  started:  ${b.startedAt ?? "-"}`,
    `  finished: ${b.finishedAt ?? "-"}`,
    `  elapsed:  ${b.elapsedSeconds === null ? "-" : `${b.elapsedSeconds.toFixed(1)}s`}`,
  ];
  if (b.layers.length > 0) lines.push(`  layers:   ${b.layers.join(", ")}`);
  if (b.error) lines.push(`  error:    ${b.error}`);
  if (b.attempts > 1) lines.push(`  attempts: ${b.attempts}`);
  return `${lines.join("\n")}\n`;
}
