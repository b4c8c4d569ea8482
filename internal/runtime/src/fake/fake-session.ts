// Sessions of the fake driver: an interactive fake shell on PassThrough
// streams, with or without a pretend pty, plus the one scripted non-tty
// command the conformance suite runs.

import { PassThrough } from "node:stream";
import { constants } from "node:os";
import type { Session } from "../runtime.ts";
import { runFakeShellLine } from "./fake-shell.ts";

export interface FakeSessionOptions {
  command: string[];
  pty?: { cols: number; rows: number };
  /** Called once when the session ends (the driver drops it from its table). */
  onExit: () => void;
}

export function startFakeSession(opts: FakeSessionOptions): Session {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const size = { cols: opts.pty?.cols ?? 0, rows: opts.pty?.rows ?? 0 };
  const eol = opts.pty ? "\r\n" : "\n";
  let finish: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    let done = false;
    finish = (code) => {
      if (done) return;
      done = true;
      stdout.end();
      stderr.end();
      opts.onExit();
      resolve(code);
    };
  });

  const [prog, flag, script] = opts.command;
  const scripted = prog === "sh" && flag === "-c" && script?.startsWith("read x;");
  const sleeper = prog === "sleep";
  let buffered = "";
  stdin.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (scripted) {
        stdout.write(`got:${line}\n`);
        stderr.write("err\n");
        stdout.write("not a tty\n");
        finish(5);
        return;
      }
      if (!sleeper) {
        const r = runFakeShellLine(line, { tty: opts.pty !== undefined, ...size });
        stdout.write(r.output.replaceAll("\n", eol));
        if (r.exit !== undefined) {
          finish(r.exit);
          return;
        }
      }
      nl = buffered.indexOf("\n");
    }
  });
  stdin.on("end", () => {
    if (!sleeper) finish(0);
  });

  return {
    stdin,
    stdout,
    stderr,
    resize(cols, rows) {
      size.cols = cols;
      size.rows = rows;
    },
    signal(sig) {
      finish(128 + (constants.signals[sig] ?? 15));
    },
    exited,
  };
}
