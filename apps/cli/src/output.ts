import { ApiError, ConnectionError } from "@boxyard/sdk";
import { CliError } from "./context.ts";

export interface Column<T> {
  header: string;
  value: (row: T) => string;
}

/** A plain aligned table, like `gh` and `kubectl` print. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join("\n");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const HINTS: Record<string, string> = {
  unauthorized: "your token is missing, wrong or expired: run 'boxyard login URL --token TOKEN'",
  box_not_found: "'boxyard ls' lists the boxes you can see",
  org_not_found: "'boxyard orgs ls' lists your organisations; pass --org NAME",
  template_not_found: "'boxyard templates ls' lists the templates",
  invalid_transition: "'boxyard show NAME' tells what state the box is in",
  box_not_running: "start it first: 'boxyard start NAME --wait'",
  quota_exceeded: "stop or delete a box, or ask an org admin to raise the quota",
  box_exists: "pick another name, or 'boxyard rm NAME' the old box",
  forbidden: "ask an owner or admin of the organisation",
};

/** Prints an error the way a person can act on: what went wrong and what to do. Returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof ApiError) {
    process.stderr.write(`boxyard: ${err.message}\n`);
    const hint = HINTS[err.code];
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    return 1;
  }
  if (err instanceof ConnectionError) {
    process.stderr.write(`boxyard: ${err.message}\nhint: is the server running? ('make up' starts one)\n`);
    return 1;
  }
  if (err instanceof CliError) {
    process.stderr.write(`boxyard: ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    return err.exitCode;
  }
  process.stderr.write(`boxyard: error: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

/** "3m", "2h", "5d": ages in `ls`. */
export function age(from: string | Date, now = new Date()): string {
  const s = Math.max(0, Math.round((now.getTime() - new Date(from).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
