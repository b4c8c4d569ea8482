// `boxyard templates prebuild NAME[@VERSION]` queues a prebuild (the checkout
// and init commands run once, kept as the layer new boxes start from) and
// may follow it; `boxyard templates prebuilds NAME` lists them, or shows one
// (`--id`) with its log (`--logs`).

import {
  createPrebuild,
  getPrebuild,
  getPrebuildLogs,
  listPrebuilds,
  type Prebuild,
} from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, type Connection, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";
import { followJob, resolveTemplateRef } from "./templates-build.ts";

/** Follows a prebuild until it is ready (returned) or failed (a CliError). */
export function followPrebuild(
  conn: Connection,
  o: { org: string; name: string; id: string; showLog: boolean },
): Promise<Prebuild> {
  const params = { org: o.org, name: o.name, prebuild: o.id };
  return followJob(
    { showLog: o.showLog },
    {
      label: `prebuild ${o.id}`,
      what: `prebuild ${o.id}`,
      get: () => conn.client.call(getPrebuild, { params }),
      logs: (offset, end) => conn.client.call(getPrebuildLogs, { params, query: { offset, end } }),
      show: `boxyard templates prebuilds ${o.name} --id ${o.id}`,
      ready: (p) => `; ${p.commit ? `commit ${p.commit.slice(0, 12)}, ` : ""}layer ${p.layer}`,
      failed: (p) =>
        new CliError(
          `prebuild ${p.id} of ${o.name}@${p.version} failed: ${p.error ?? "no reason given"}`,
          `'boxyard templates prebuilds ${o.name} --id ${p.id} --logs' has the whole log`,
        ),
    },
  );
}

function describePrebuild(p: Prebuild): string {
  const lines = [
    `${p.id}: ${p.status}`,
    `  template: ${p.template}@${p.version}${p.ref ? ` (ref ${p.ref})` : ""}`,
    `  trigger:  ${p.trigger}${p.requestedBy ? ` by ${p.requestedBy}` : ""}`,
    `  commit:   ${p.commit ?? "-"}`,
    `  layer:    ${p.layer ?? "-"}`,
    `  node:     ${p.node ?? "-"}`,
    `  elapsed:  ${p.elapsedSeconds === null ? "-" : `${p.elapsedSeconds.toFixed(1)}s`}`,
  ];
  if (p.error) lines.push(`  error:    ${p.error}`);
  if (p.attempts > 1) lines.push(`  attempts: ${p.attempts}`);
  return `${lines.join("\n")}\n`;
}

export function registerTemplatePrebuildCommands(templates: Command): void {
  templates
    .command("prebuild")
    .description(
      "Prebuild a template version (default: the latest): check its repository out and run its init commands once, for new boxes to start from",
    )
    .argument("<ref>", "NAME or NAME@VERSION")
    .option("--ref <ref>", "the branch, tag or commit to prebuild (default: the template's)")
    .option("--follow", "follow it until it is ready or failed, with its log")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nA push of a template with a repo or init commands prebuilds it already; ask again when the\nrepository moved, so new boxes fetch less.\n\nExamples:\n  boxyard templates prebuild app --follow\n  boxyard templates prebuild app@3 --ref release-1.2\n",
    )
    .action(async (ref: string, opts: { ref?: string; follow?: boolean; org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { name, version } = await resolveTemplateRef(conn, org, ref);
      const queued = await conn.client.call(createPrebuild, {
        params: { org, name },
        body: { version, ...(opts.ref ? { ref: opts.ref } : {}) },
      });
      if (!opts.follow) {
        if (opts.json) return printJson(queued);
        process.stdout.write(
          `Prebuild ${queued.id} of ${name}@${version} is ${queued.status} ('boxyard templates prebuilds ${name} --id ${queued.id}' shows it).\n`,
        );
        return;
      }
      const done = await followPrebuild(conn, { org, name, id: queued.id, showLog: !opts.json });
      if (opts.json) printJson(done);
    });

  templates
    .command("prebuilds")
    .description("List a template's prebuilds (newest first), or show one with --id")
    .argument("<name>", "template name")
    .option("--id <id>", "show this prebuild")
    .option("--logs", "with --id: print its log")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard templates prebuilds app\n  boxyard templates prebuilds app --id pb_0abc... --logs\n  boxyard templates prebuilds app --json\n",
    )
    .action(async (name: string, opts: { id?: string; logs?: boolean; org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      if (opts.id) {
        const params = { org, name, prebuild: opts.id };
        const p = await conn.client.call(getPrebuild, { params });
        if (opts.json) return printJson(p);
        if (opts.logs) {
          const text = await conn.client.call(getPrebuildLogs, { params, query: {} });
          process.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
        }
        process.stdout.write(describePrebuild(p));
        if (p.status === "failed") process.exitCode = 1;
        return;
      }
      if (opts.logs) throw new CliError("--logs needs --id", "pick a prebuild from the list: --id pb_...");
      const { items } = await conn.client.call(listPrebuilds, { params: { org, name }, query: {} });
      if (opts.json) return printJson(items);
      if (items.length === 0) {
        process.stdout.write(`No prebuilds of ${name}.\n`);
        return;
      }
      process.stdout.write(
        formatTable(items, [
          { header: "id", value: (p) => p.id },
          { header: "version", value: (p) => String(p.version) },
          { header: "status", value: (p) => p.status },
          { header: "commit", value: (p) => p.commit?.slice(0, 12) ?? "-" },
          { header: "trigger", value: (p) => p.trigger },
          { header: "age", value: (p) => age(p.createdAt) },
          {
            header: "took",
            value: (p) => (p.elapsedSeconds === null ? "-" : `${p.elapsedSeconds.toFixed(1)}s`),
          },
        ]),
      );
    });
}
