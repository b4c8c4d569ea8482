// `boxyard templates pool NAME [--size N]`: a template's warm pool (ready
// boxes that creates of it claim at once). Without --size it shows the pool.

import { getTemplatePool, setTemplatePool } from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { printJson } from "../output.ts";

/** "2/3 ready" for listings; "-" without a pool. */
export function poolSummary(
  pool: { size: number; target: number; ready: number } | null | undefined,
): string {
  if (!pool || (pool.size === 0 && pool.ready === 0)) return "-";
  const capped = pool.target < pool.size ? ` (quota caps at ${pool.target})` : "";
  return `${pool.ready}/${pool.size} ready${capped}`;
}

export function registerTemplatePoolCommand(templates: Command): void {
  templates
    .command("pool")
    .description(
      "Show or set a template's warm pool: boxes kept ready so that a create of the template is claimed at once",
    )
    .argument("<name>", "template name")
    .option("--size <n>", "keep this many ready boxes (0 empties the pool)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nPooled boxes are invisible and hold none of the org's quota until a create claims one;\nthe pool never keeps more than the quota could still admit.\n\nExamples:\n  boxyard templates pool busybox --size 3\n  boxyard templates pool busybox\n",
    )
    .action(async (name: string, opts: { size?: string; org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      let pool: {
        size: number;
        target: number;
        ready: number;
        starting: number;
        draining: number;
        templateVersion: number | null;
        lastError: string | null;
      };
      if (opts.size !== undefined) {
        const size = Number(opts.size);
        if (!Number.isInteger(size) || size < 0 || size > 50)
          throw new CliError(`--size must be a whole number from 0 to 50, not ${opts.size}`);
        pool = await conn.client.call(setTemplatePool, { params: { org, name }, body: { size } });
      } else {
        pool = await conn.client.call(getTemplatePool, { params: { org, name } });
      }
      if (opts.json) return printJson(pool);
      const lines = [
        `Warm pool of ${name} in ${org}: size ${pool.size}, keeping ${pool.target}${pool.target < pool.size ? " (capped by the org's quota)" : ""}`,
        `  ready ${pool.ready}, starting ${pool.starting}, draining ${pool.draining}${pool.templateVersion !== null ? `, template version ${pool.templateVersion}` : ""}`,
      ];
      if (pool.lastError) lines.push(`  problem: ${pool.lastError}`);
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
