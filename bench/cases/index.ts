// The issue-9 cases run.ts registers, in order. Each cleans up what it made and
// checks its own leaks; a failing case is reported (and fails the run) without
// losing the others' figures.
import { apiLoad } from "./api-load.ts";
import { burst } from "./burst.ts";
import type { CaseContext, CaseOutput, CaseResult } from "./common.ts";
import { createDebian } from "./create-debian.ts";
import { density } from "./density.ts";
import { resumeCold } from "./resume-cold.ts";
import { snapshot } from "./snapshot.ts";
import { sshCase } from "./ssh.ts";

export type { CaseContext } from "./common.ts";

/** Name, the case, and the BENCH_ONLY names that select it (default: its name). */
const CASES: Array<[string, (ctx: CaseContext) => Promise<CaseOutput>, string[]?]> = [
  ["create-debian", createDebian, ["create-debian", "create-debian-pool"]],
  ["resume-cold", resumeCold],
  ["burst", burst],
  ["density", density],
  ["ssh", sshCase],
  ["snapshot", snapshot],
  // Last: in one run a box created after it did not start within 120 s (not understood yet).
  ["api-load", apiLoad],
];

export const EXTRA_CASE_NAMES = CASES.flatMap(([name, , names]) => names ?? [name]);

export async function runExtraCases(
  ctx: CaseContext,
  wanted: (name: string) => boolean,
): Promise<{ results: Record<string, CaseResult>; notes: string[] }> {
  const results: Record<string, CaseResult> = {};
  const notes: string[] = [];
  for (const [name, fn, names] of CASES) {
    if (!(names ?? [name]).some(wanted)) continue;
    try {
      const out = await fn(ctx);
      Object.assign(results, out.results);
      notes.push(...out.notes);
    } catch (err) {
      process.stderr.write(
        `bench: ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
      );
      notes.push(`${name}: FAILED (${err instanceof Error ? err.message : String(err)})`);
      process.exitCode = 1;
    }
  }
  return { results, notes };
}
