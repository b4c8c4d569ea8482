// Which reported OOM kills are new, and how a kill reads as a box event.

import type { OomKillRecord } from "./queries/boxes.ts";

/**
 * The kills in `reported` (oldest first, the node's latest few) that come
 * after `last`, the latest one already recorded. A node reports the same
 * kills again and again, and its log may have lost old lines, so the
 * recorded kill is looked up by time and pid; when it is gone, only kills
 * later than its second count.
 */
export function newOomKills(last: OomKillRecord | null, reported: readonly OomKillRecord[]): OomKillRecord[] {
  if (!last) return [...reported];
  for (let i = reported.length - 1; i >= 0; i--) {
    const k = reported[i] as OomKillRecord;
    if (k.at === last.at && k.pid === last.pid) return reported.slice(i + 1);
  }
  return reported.filter((k) => k.at > last.at);
}

export function oomKillReason(k: OomKillRecord): string {
  return `out of memory: the box's OOM guard killed pid ${k.pid} (${k.command}), uid ${k.uid}, ${k.rssMiB} MiB resident`;
}
