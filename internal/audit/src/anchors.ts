import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Queryable } from "@boxyard/db";
import type { ChainAnchor } from "./verify.ts";

/**
 * Chain heads written to an append-only file outside the database, so a
 * superuser who cuts the tail off a chain (and fixes up the hashes) is still
 * caught: the exported head names an event the database no longer has.
 * In production point this at storage the database's admins cannot rewrite.
 */
export class AnchorFile {
  constructor(readonly path: string) {}

  async exportHeads(db: Queryable, at: Date): Promise<ChainAnchor[]> {
    const { rows } = await db.query<ChainAnchor>(
      `SELECT DISTINCT ON (chain) chain, seq::int AS seq, hash FROM audit_events ORDER BY chain, seq DESC`,
    );
    if (rows.length === 0) return [];
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await appendFile(
      this.path,
      rows.map((r) => `${JSON.stringify({ ...r, at: at.toISOString() })}\n`).join(""),
      {
        mode: 0o600,
      },
    );
    return rows;
  }

  /** The newest exported head of a chain, if any. */
  async latest(chain: string): Promise<ChainAnchor | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch {
      return undefined;
    }
    let best: ChainAnchor | undefined;
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const a = JSON.parse(line) as ChainAnchor;
        if (a.chain === chain && (!best || a.seq > best.seq)) best = a;
      } catch {
        // A torn last line after a crash: ignore it.
      }
    }
    return best;
  }
}
