import {
  type Box,
  createBox,
  deleteBox,
  execInBox,
  getBox,
  getUsage,
  listBoxes,
  pauseBox,
  resumeBox,
  startBox,
  stopBox,
} from "@boxyard/contract";
import { boxErrorLine, boxStateLabel, explainBox } from "@boxyard/sdk";
import type { Command } from "commander";
import type { z } from "zod";
import { CliError, connect } from "../context.ts";
import { historySection, readHistory } from "./box-history.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";
import { waitForState } from "../wait.ts";

type BoxT = z.output<typeof Box>;

/** Wraps a sentence to the terminal's usual width, indented under its heading. */
function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(`  ${line}`);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(`  ${line}`);
  return lines;
}

/** `boxyard show`: what the box is and, in plain words, what survives what (words shared with the dashboard). */
export function describeBox(b: BoxT): string {
  const error = boxErrorLine(b);
  const explained = explainBox(b);
  const lines = [
    `${b.name} (${b.org})`,
    `  state:     ${boxStateLabel(b)}${error ? `  [last error: ${error}]` : ""}`,
    `  template:  ${b.template} v${b.templateVersion}`,
    `  owner:     ${b.owner}`,
    `  node:      ${b.node ?? "-"}`,
    `  resources: ${b.resources.cpu} CPU, ${b.resources.memoryMiB} MiB memory, ${b.resources.diskGiB} GiB disk${b.resources.gpus ? `, ${b.resources.gpus} GPU` : ""}`,
    `  created:   ${b.createdAt} (${age(b.createdAt)} ago)`,
    ...(b.repo
      ? [
          `  repo:      ${b.repo.url}${b.repo.ref ? ` (${b.repo.ref})` : ""} at ${b.repo.commit ?? "(not checked out yet)"}`,
        ]
      : []),
    ...(b.prebuild
      ? [
          `  prebuild:  ${b.prebuild.id}${b.prebuild.commit ? ` (made at ${b.prebuild.commit.slice(0, 12)}${b.repo?.commit && b.repo.commit !== b.prebuild.commit ? "; the checkout was brought forward since" : ""})` : ""}`,
        ]
      : []),
    ...(b.notice ? [`  notice:    ${b.notice}`] : []),
    "",
    "What persists:",
    ...wrap(explained.persists.slice(0, 2).join(" ")),
    ...explained.persists.slice(2).flatMap((s) => wrap(s)),
    "",
    "Auto-pause and auto-stop:",
    ...explained.autoStop.flatMap((s) => wrap(s)),
  ];
  return lines.join("\n");
}

interface OrgOpt {
  org?: string;
  json?: boolean;
  wait?: boolean;
}

export function registerBoxCommands(program: Command): void {
  program
    .command("create")
    .description("Create a box from a template")
    .argument("<name>", "box name: a-z, 0-9 and '-'")
    .requiredOption("-t, --template <template>", "template name (e.g. busybox, debian)")
    .option("--org <org>", "organisation (default: your saved or only one)")
    .option("--cpu <n>", "CPU cores", Number)
    .option("--memory <MiB>", "memory in MiB", (v) => Number.parseInt(v, 10))
    .option("--disk <GiB>", "disk in GiB", (v) => Number.parseInt(v, 10))
    .option("--persistent", "keep the box through node loss (from backups)")
    .option("--team <team>", "put the box in a team of yours (it counts against the team's quota)")
    .option("--wait", "wait until the box is running, showing progress")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard create web --template debian --wait\n")
    .action(
      async (
        name: string,
        opts: OrgOpt & {
          template: string;
          cpu?: number;
          memory?: number;
          disk?: number;
          persistent?: boolean;
          team?: string;
        },
      ) => {
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const resources = {
          ...(opts.cpu !== undefined ? { cpu: opts.cpu } : {}),
          ...(opts.memory !== undefined ? { memoryMiB: opts.memory } : {}),
          ...(opts.disk !== undefined ? { diskGiB: opts.disk } : {}),
        };
        const accepted = await conn.client.call(createBox, {
          params: { org },
          body: {
            name,
            template: opts.template,
            ...(opts.persistent ? { persistent: true } : {}),
            ...(opts.team ? { team: opts.team } : {}),
            ...(Object.keys(resources).length > 0 ? { resources } : {}),
          },
          idempotencyKey: `cli-create-${org}-${name}-${process.pid}-${Date.now()}`,
        });
        let box = accepted.box;
        if (opts.wait) box = (await waitForState(conn, { org, box: name, target: "running" })) ?? box;
        if (opts.json) return printJson(opts.wait ? box : accepted);
        if (!opts.wait)
          process.stdout.write(
            `Creating ${name} from ${opts.template} ('boxyard show ${name}' to follow).\n`,
          );
      },
    );

  program
    .command("ls")
    .description("List boxes")
    .option("--org <org>", "organisation")
    .option("--state <state>", "only boxes in this state")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard ls --json | jq '.[].name'\n")
    .action(async (opts: OrgOpt & { state?: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const items: BoxT[] = [];
      let cursor: string | undefined;
      do {
        const page = await conn.client.call(listBoxes, {
          params: { org },
          query: {
            limit: 200,
            ...(cursor ? { cursor } : {}),
            ...(opts.state ? { state: opts.state as BoxT["actualState"] } : {}),
          },
        });
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      if (opts.json) return printJson(items);
      if (items.length === 0) {
        process.stdout.write(`No boxes in ${org}. Create one: boxyard create NAME --template busybox\n`);
        return;
      }
      // Cost so far this month, where the caller may read the org's usage (owners, admins, auditors).
      const costs = new Map<string, number>();
      const usage = await conn.client.call(getUsage, { params: { org }, query: {} }).catch(() => null);
      for (const u of usage?.boxes ?? []) if (!u.deleted) costs.set(u.box, u.cost);
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (b) => b.name },
          { header: "state", value: boxStateLabel },
          { header: "template", value: (b) => `${b.template}:v${b.templateVersion}` },
          { header: "age", value: (b) => age(b.createdAt) },
          { header: "node", value: (b) => b.node ?? "-" },
          { header: "owner", value: (b) => b.owner },
          { header: "cost", value: (b) => (costs.has(b.name) ? `$${costs.get(b.name)!.toFixed(2)}` : "-") },
        ])}\n`,
      );
    });

  program
    .command("show")
    .description("Show a box and, in plain words, what persists and when it auto-pauses")
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard show web\n")
    .action(async (name: string, opts: OrgOpt) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const box = await conn.client.call(getBox, { params: { org, box: name } });
      if (opts.json) return printJson(box);
      // The last few things that happened to it; a server without history still shows the box.
      const recent = await readHistory(conn.client, { org, box: name, limit: 5 }).catch(() => null);
      const events = recent
        ? ["", `Recent events (newest first; 'boxyard events ${name}' for more):`, ...historySection(recent)]
        : [];
      process.stdout.write(`${[describeBox(box), ...events].join("\n")}\n`);
    });

  const verbs = [
    ["start", startBox, "running", "Start a stopped box (cold boot)"],
    ["stop", stopBox, "stopped", "Stop a box: processes end, disks are kept"],
    ["pause", pauseBox, "paused", "Pause a box, keeping its processes"],
    ["resume", resumeBox, "running", "Resume a paused box"],
  ] as const;
  for (const [verb, route, target, summary] of verbs) {
    const cmd = program
      .command(verb)
      .description(summary)
      .argument("<name>")
      .option("--org <org>", "organisation")
      .option("--wait", `wait until the box is ${target}, showing progress`)
      .option("--json", "machine-readable output");
    if (verb === "pause")
      cmd.option(
        "--cold",
        "checkpoint the box to disk now (RAM and compute released; resume takes a moment longer) instead of keeping it frozen in RAM",
      );
    cmd
      .addHelpText(
        "after",
        verb === "pause"
          ? "\nExamples:\n  boxyard pause web --wait\n  boxyard pause web --cold   # also demotes an already hot-paused box\n"
          : `\nExample:\n  boxyard ${verb} web --wait\n`,
      )
      .action(async (name: string, opts: OrgOpt & { cold?: boolean }) => {
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const accepted =
          verb === "pause"
            ? await conn.client.call(pauseBox, {
                params: { org, box: name },
                body: { mode: opts.cold ? "cold" : "hot" },
              })
            : await conn.client.call(route, { params: { org, box: name } });
        let box = accepted.box;
        if (opts.wait) box = (await waitForState(conn, { org, box: name, target })) ?? box;
        if (opts.json) return printJson(opts.wait ? box : accepted);
        if (!opts.wait) process.stdout.write(`${name}: ${verb} requested (now ${box.actualState}).\n`);
      });
  }

  program
    .command("rm")
    .description("Delete a box and everything in it")
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--wait", "wait until it is gone")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard rm web --wait\n")
    .action(async (name: string, opts: OrgOpt) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const accepted = await conn.client.call(deleteBox, { params: { org, box: name } });
      if (opts.wait) await waitForState(conn, { org, box: name, target: "deleted" });
      if (opts.json) return printJson(accepted);
      process.stdout.write(opts.wait ? `${name} deleted.\n` : `${name}: delete requested.\n`);
    });

  program
    .command("exec")
    .description("Run a command in a running box (no tty); exits with its exit code")
    .argument("<name>")
    .argument("<command...>", "the command and its arguments (after --)")
    .option("--org <org>", "organisation")
    .option("--timeout <seconds>", "kill the command after this long", (v) => Number.parseInt(v, 10))
    .option(
      "--wait [seconds]",
      `if the box is starting or resuming, wait for it to run (default ${EXEC_WAIT_SECONDS} s) instead of failing`,
    )
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard exec web -- git --version\n  boxyard resume web && boxyard exec web --wait -- make test\n",
    )
    .action(
      async (name: string, command: string[], opts: OrgOpt & { timeout?: number; wait?: string | true }) => {
        const waitSeconds = execWaitSeconds(opts.wait);
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const r = await conn.client.call(execInBox, {
          params: { org, box: name },
          body: {
            command,
            ...(opts.timeout ? { timeoutSeconds: opts.timeout } : {}),
            ...(waitSeconds ? { waitSeconds } : {}),
          },
        });
        if (opts.json) return printJson(r);
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (r.timedOut) process.stderr.write(`boxyard: the command timed out and was killed\n`);
        if (r.truncated) process.stderr.write(`boxyard: output was cut at the size limit\n`);
        process.exitCode = r.exitCode;
      },
    );
}

/** How long `boxyard exec --wait` waits for a starting or resuming box when no time is given. */
const EXEC_WAIT_SECONDS = 60;

/** `--wait` alone, `--wait N` (0-600 seconds), or absent; anything else is a usage error. */
function execWaitSeconds(wait: string | true | undefined): number {
  if (wait === undefined) return 0;
  if (wait === true) return EXEC_WAIT_SECONDS;
  const n = Number(wait);
  if (!/^\d+$/.test(wait) || n > 600)
    throw new CliError(
      `--wait takes a number of seconds from 0 to 600, not "${wait}"`,
      "for example: --wait 30",
    );
  return n;
}
