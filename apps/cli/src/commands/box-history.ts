// `boxyard events NAME`: a box's history (state changes with their reasons,
// who did what and when), newest first; `boxyard show` prints the last few.
import { boxHistory } from "@boxyard/contract";
import { type BoxHistoryEntryT, type BoxyardClient, historyLine } from "@boxyard/sdk";
import type { Command } from "commander";
import { connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { formatTable, printJson } from "../output.ts";

/** `2026-11-29 07:12:03`, in UTC like the API's timestamps. */
function when(iso: string): string {
  return iso.replace("T", " ").slice(0, 19);
}

/** Up to `limit` entries, newest first, following the server's pages. */
export async function readHistory(
  client: BoxyardClient,
  p: { org: string; box: string; limit: number },
): Promise<BoxHistoryEntryT[]> {
  const out: BoxHistoryEntryT[] = [];
  let cursor: string | undefined;
  while (out.length < p.limit) {
    const page = await client.call(boxHistory, {
      params: { org: p.org, box: p.box },
      query: { limit: Math.min(200, p.limit - out.length), ...(cursor ? { cursor } : {}) },
    });
    out.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return out;
}

/** The history as `show` prints it: one indented line per entry, newest first. */
export function historySection(entries: readonly BoxHistoryEntryT[]): string[] {
  if (entries.length === 0) return ["  (nothing recorded yet)"];
  return entries.map((e) => {
    const l = historyLine(e);
    return `  ${when(e.at)}  ${l.who}: ${l.what}${l.bad ? "  [!]" : ""}`;
  });
}

export function registerBoxHistoryCommands(program: Command): void {
  program
    .command("events")
    .description("A box's history: state changes with their reasons, and who did what, newest first")
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--limit <n>", "how many entries (default 50)", (v) => Number.parseInt(v, 10), 50)
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExamples:\n  boxyard events web\n  boxyard events web --limit 500 --json\n")
    .action(async (name: string, opts: { org?: string; limit: number; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const limit = Number.isFinite(opts.limit) && opts.limit > 0 ? opts.limit : 50;
      const entries = await readHistory(conn.client, { org, box: name, limit });
      if (opts.json) return printJson(entries);
      if (entries.length === 0) {
        process.stdout.write(`Nothing recorded for ${name} yet.\n`);
        return;
      }
      process.stdout.write(
        `${formatTable(entries, [
          { header: "time (utc)", value: (e) => when(e.at) },
          { header: "who", value: (e) => historyLine(e).who },
          { header: "what", value: (e) => historyLine(e).what },
        ])}\n`,
      );
    });
}
