import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { createTemplate, listTemplates, listTemplateVersions } from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";

function imageOf(spec: { image: unknown }): string {
  const image = spec.image as { base?: string; packages?: string[] };
  if (!image.base) return "?";
  return image.packages?.length ? `${image.base} +${image.packages.length} packages` : image.base;
}

export function registerTemplateCommands(program: Command): void {
  const templates = program.command("templates").description("The organisation's box templates");
  templates
    .command("ls")
    .description("List templates at their latest version (built-in ones included)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard templates ls\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listTemplates, { params: { org } });
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (t) => t.name },
          { header: "version", value: (t) => (t.builtIn ? "built-in" : String(t.version)) },
          { header: "image", value: (t) => imageOf(t.spec) },
          { header: "cpu", value: (t) => String(t.spec.resources?.cpu ?? "-") },
          {
            header: "memory",
            value: (t) => (t.spec.resources?.memoryMiB ? `${t.spec.resources.memoryMiB} MiB` : "-"),
          },
          { header: "updated", value: (t) => (t.builtIn ? "-" : `${age(t.createdAt)} ago`) },
        ])}\n`,
      );
    });
  templates
    .command("push")
    .description("Add a template from a YAML or JSON file, or a new version of it")
    .argument("<file>", "the template spec (YAML or JSON)")
    .option("--name <name>", "template name (default: the file name without its extension)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard templates push python.yaml   # template 'python'\n")
    .action(async (file: string, opts: { name?: string; org?: string; json?: boolean }) => {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        throw new CliError(
          `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
          "check the path",
        );
      }
      const name = opts.name ?? basename(file, extname(file));
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const v = await conn.client.call(createTemplate, { params: { org }, body: { name, spec: text } });
      if (opts.json) return printJson(v);
      process.stdout.write(
        `Template ${v.name} is now at version ${v.version} in ${org}.\nCreate a box from it: boxyard create NAME --template ${v.name}\n`,
      );
    });
  templates
    .command("versions")
    .description("List every version of a template, newest first")
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard templates versions python\n")
    .action(async (name: string, opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listTemplateVersions, { params: { org, name } });
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "version", value: (v) => String(v.version) },
          { header: "image", value: (v) => imageOf(v.spec) },
          { header: "by", value: (v) => v.createdBy ?? "-" },
          { header: "created", value: (v) => `${age(v.createdAt)} ago` },
        ])}\n`,
      );
    });
}
