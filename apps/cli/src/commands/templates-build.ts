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
export function followBuild(conn: Connection, o: FollowOptions): Promise<TemplateBuild> {
  const ref = `${o.name}@${o.version}`;
  const params = { org: o.org, name: o.name, version: o.version };
  return followJob(o, {
    label: ref,
    what: `the build of ${ref}`,
    get: () => conn.client.call(getTemplateBuild, { params }),
    logs: (offset, end) => conn.client.call(getTemplateBuildLogs, { params, query: { offset, end } }),
    show: `boxyard templates build ${ref}`,
    ready: (b) => `${b.cacheHit ? " (cache hit: nothing was rebuilt)" : ""}; layers ${b.layers.join(", ")}`,
    failed: (b) =>
      new CliError(
        `the build of ${ref} failed: ${b.error ?? "no reason given"}`,
        `'boxyard templates build ${ref} --logs' has the whole log; push a fixed version`,
      ),
  });
}

/** A job on a node with a status and a log: a template build, a prebuild. */
interface FollowedJob {
  status: "queued" | "building" | "ready" | "failed";
  logSize: number;
}

/**
 * Follows a job to its end: the log as it arrives, the status with the
 * elapsed time. Returns the job when ready; throws what `failed` makes.
 */
export async function followJob<J extends FollowedJob>(
  o: Pick<FollowOptions, "showLog" | "log" | "status" | "timeoutMs">,
  j: {
    label: string;
    /** For "Stopped following; WHAT carries on". */
    what: string;
    get: () => Promise<J>;
    logs: (offset: number, end: number) => Promise<string>;
    /** The command that shows where it is. */
    show: string;
    /** Said after "ready after N s". */
    ready: (job: J) => string;
    failed: (job: J) => Error;
  },
): Promise<J> {
  const out = o.status ?? process.stderr;
  const logOut = o.log ?? process.stdout;
  const tty = out.isTTY === true;
  const started = Date.now();
  const deadline = started + (o.timeoutMs ?? 60 * 60_000);
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
        out.write(`Stopped following; ${j.what} carries on. '${j.show}' shows where it is.\n`);
        throw new CliError("interrupted", undefined, 130);
      }
      const job = await j.get();
      if (o.showLog && job.logSize > offset) {
        const text = await j.logs(offset, job.logSize);
        offset = job.logSize;
        if (text) {
          clear();
          logOut.write(text.endsWith("\n") ? text : `${text}\n`);
        }
      }
      if (job.status !== last) {
        clear();
        if (!tty || last === "") out.write(`${j.label}: ${job.status} (${secs()}s)\n`);
        last = job.status;
      }
      if (job.status === "queued" && !hinted && Date.now() - started > 30_000) {
        hinted = true;
        clear();
        out.write(
          `${j.label}: no node has taken it yet; is a node agent running? ('boxyard nodes' lists them)\n`,
        );
      }
      if (job.status === "ready") {
        clear();
        out.write(`${j.label}: ready after ${secs()}s${j.ready(job)}\n`);
        return job;
      }
      if (job.status === "failed") {
        clear();
        throw j.failed(job);
      }
      if (Date.now() > deadline)
        throw new CliError(`${j.label} is still ${job.status} after ${secs()}s; not following longer`);
      if (tty)
        out.write(`\r\x1b[K${SPINNER[frame++ % SPINNER.length]} ${j.label}: ${job.status}  ${secs()}s`);
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
