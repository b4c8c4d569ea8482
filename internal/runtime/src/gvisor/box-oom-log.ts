// The OOM guard's kills as the node sees them. boxinit appends one line per
// kill to /var/log/boxyard/oom.log in the box, which lands in the box's
// overlay upper dir on the host. The box owns that file (root in the box may
// replace any part of the path with a symlink), so it is read without
// following links, capped in size, and only lines in the guard's exact
// format count: nothing else from the file, or from wherever a link might
// point, leaves this module.

import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { OomKill } from "../runtime.ts";

/** boxinit.c guard_log: "<UTC time> oom-guard: killed pid N (comm) uid U rss R MiB; ..." */
const killLine =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) oom-guard: killed pid (\d{1,9}) \(([\w .:/+-]{0,64})\) uid (\d{1,9}) rss (\d{1,9}) MiB;/;

/** The most this reads (the guard truncates its log at 256 KiB). */
const maxBytes = 512 * 1024;

/** The kills in the box's guard log (its current, possibly truncated, copy); [] when there is none. */
export async function readOomKills(upperDir: string): Promise<OomKill[]> {
  let dir = upperDir;
  for (const part of ["var", "log", "boxyard"]) {
    dir = join(dir, part);
    let st: Stats | undefined;
    try {
      st = lstatSync(dir);
    } catch {}
    if (!st?.isDirectory()) return [];
  }
  // Read at once (at most maxBytes of a local file; a FIFO or a link is never read): every look at a box reads it.
  let fd: number;
  try {
    fd = openSync(join(dir, "oom.log"), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return [];
    const size = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(size);
    const bytesRead = readSync(fd, buf, 0, size, st.size - size);
    const kills: OomKill[] = [];
    for (const line of buf.subarray(0, bytesRead).toString("utf8").split("\n")) {
      const m = killLine.exec(line);
      if (!m) continue;
      kills.push({
        at: m[1] as string,
        pid: Number(m[2]),
        command: m[3] as string,
        uid: Number(m[4]),
        rssMiB: Number(m[5]),
      });
    }
    return kills;
  } finally {
    closeSync(fd);
  }
}
