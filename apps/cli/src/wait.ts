import { type Box, getBox } from "@boxyard/contract";
import type { z } from "zod";
import type { Connection } from "./context.ts";
import { CliError } from "./context.ts";

type BoxT = z.output<typeof Box>;
const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface WaitOptions {
  org: string;
  box: string;
  /** The actual state that means done ("deleted" for rm). */
  target: BoxT["actualState"];
  timeoutMs?: number;
  out?: NodeJS.WriteStream;
}

/**
 * Waits for a box to reach a state, showing live progress: one updating line
 * with the phase and elapsed time on a terminal, a plain line per change
 * otherwise. Ctrl-C stops the waiting, never the operation, and says so.
 */
export async function waitForState(conn: Connection, opts: WaitOptions): Promise<BoxT | null> {
  const out = opts.out ?? process.stderr;
  const tty = out.isTTY === true;
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 10 * 60_000);
  let last = "";
  let frame = 0;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSigint);
  const secs = () => ((Date.now() - started) / 1000).toFixed(1);
  try {
    for (;;) {
      if (interrupted) {
        if (tty) out.write("\r\x1b[K");
        out.write(`Stopped waiting; ${opts.box} carries on. 'boxyard show ${opts.box}' shows where it is.\n`);
        throw new CliError("interrupted", undefined, 130);
      }
      let box: BoxT | null;
      try {
        box = await conn.client.call(getBox, { params: { org: opts.org, box: opts.box } });
      } catch (err) {
        if ((err as { code?: string }).code === "box_not_found" && opts.target === "deleted") box = null;
        else throw err;
      }
      const state = box?.actualState ?? "deleted";
      if (state !== last) {
        if (tty) out.write("\r\x1b[K");
        if (!tty || last === "") out.write(`${opts.box}: ${state} (${secs()}s)\n`);
        last = state;
      }
      if (state === opts.target) {
        if (tty) out.write(`\r\x1b[K${opts.box}: ${state} after ${secs()}s\n`);
        return box;
      }
      if (box?.actualState === "failed" && box.lastError?.permanent) {
        if (tty) out.write("\r\x1b[K");
        throw new CliError(
          `${opts.box} failed: ${box.lastError.message}`,
          `'boxyard show ${opts.box}' has the details`,
        );
      }
      if (Date.now() > deadline)
        throw new CliError(`${opts.box} is still ${state} after ${secs()}s; not waiting longer`);
      if (tty) out.write(`\r\x1b[K${SPINNER[frame++ % SPINNER.length]} ${opts.box}: ${state}  ${secs()}s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}
