import { readFile } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import {
  classifyImage,
  createTemplate,
  getTemplateBuild,
  getTemplateBuildLogs,
  listTemplates,
  listTemplateVersions,
  parseJsonc,
  replaceTopLevelValue,
  retryTemplateBuild,
} from "@boxyard/contract";
import type { Command } from "commander";
import { parseDocument } from "yaml";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";
import { uploadArchive } from "./images.ts";
import { describeBuild, followBuild, resolveTemplateRef } from "./templates-build.ts";
import { poolSummary, registerTemplatePoolCommand } from "./templates-pool.ts";
import { registerTemplatePrebuildCommands } from "./templates-prebuilds.ts";

function imageOf(t: { spec: { image: unknown }; source?: unknown }): string {
  const image = t.spec.image as { base?: string; packages?: string[]; oci?: string };
  const from = t.source ? " (devcontainer.json)" : "";
  if (image.oci) return `oci ${image.oci.slice(0, 19)}${from}`;
  if (!image.base) return "?";
  return `${image.packages?.length ? `${image.base} +${image.packages.length} packages` : image.base}${from}`;
}

/**
 * contract.md's `image: {oci: path/to/image.tar}`: a path (relative to the
 * template file) is uploaded first, like `boxyard images push`, and the spec
 * is sent with the archive's digest in its place (comments kept).
 * `image: {devcontainer: path/to/devcontainer.json}`: the file is read and
 * sent as text (the server converts it), with an `image` in it that names an
 * archive (relative to devcontainer.json) uploaded and replaced by its digest.
 */
async function uploadLocalImage(text: string, file: string, url: string, org: string, quiet: boolean) {
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text);
  } catch {
    return text; // the server says what is wrong with it
  }
  if (doc.errors.length > 0) return text;
  const upload = async (archive: string, key: string) => {
    if (!quiet) process.stderr.write(`Uploading ${archive} (${key}) to ${org}...\n`);
    const image = await uploadArchive(url, org, archive, false);
    if (!quiet) process.stderr.write(`Uploaded as ${image.digest}.\n`);
    return image.digest;
  };
  const oci = doc.getIn(["image", "oci"]);
  if (typeof oci === "string" && !/^sha256:[0-9a-f]{64}$/.test(oci)) {
    doc.setIn(["image", "oci"], await upload(resolve(dirname(file), oci), "image.oci"));
    return String(doc);
  }
  const devcontainer = doc.getIn(["image", "devcontainer"]);
  if (typeof devcontainer !== "string" || /^\s*(?:\/[/*]|\{)/.test(devcontainer)) return text;
  const path = resolve(dirname(file), devcontainer);
  let json: string;
  try {
    json = await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(
      `cannot read ${path} (image.devcontainer; ${(err as NodeJS.ErrnoException).code ?? err})`,
      "the path is relative to the template file",
    );
  }
  let image: unknown;
  try {
    image = (parseJsonc(json).value as { image?: unknown } | null)?.image;
  } catch {
    image = undefined; // the server says what is wrong with it
  }
  if (typeof image === "string" && classifyImage(image) === "archive-path")
    json = replaceTopLevelValue(
      json,
      "image",
      await upload(resolve(dirname(path), image), "devcontainer.json image"),
    );
  doc.setIn(["image", "devcontainer"], json);
  doc.setIn(["image", "file"], devcontainer);
  return String(doc);
}

/** What the devcontainer.json asked for that the template does not do, one line each. */
function printWarnings(warnings: Array<{ key: string; message: string }>): void {
  for (const w of warnings) process.stderr.write(`warning: devcontainer.json ${w.key}: ${w.message}\n`);
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
          { header: "image", value: (t) => imageOf(t) },
          { header: "cpu", value: (t) => String(t.spec.resources?.cpu ?? "-") },
          {
            header: "memory",
            value: (t) => (t.spec.resources?.memoryMiB ? `${t.spec.resources.memoryMiB} MiB` : "-"),
          },
          { header: "pool", value: (t) => poolSummary(t.pool) },
          { header: "updated", value: (t) => (t.builtIn ? "-" : `${age(t.createdAt)} ago`) },
        ])}\n`,
      );
    });
  registerTemplatePoolCommand(templates);
  registerTemplatePrebuildCommands(templates);
  templates
    .command("push")
    .description("Add a template from a YAML or JSON file, or a new version of it")
    .argument("<file>", "the template spec (YAML or JSON)")
    .option("--name <name>", "template name (default: the file name without its extension)")
    .option("--org <org>", "organisation")
    .option("--follow", "follow the image build: its log and progress, until it is ready or failed")
    .option("--json", "machine-readable output (with --follow: the version and its finished build)")
    .addHelpText(
      "after",
      "\nA template's image may be a devcontainer.json (image: {devcontainer: .devcontainer/devcontainer.json});\nwhat it asks for that Boxyard does not do is printed as warnings (and in --json's warnings).\n\nExamples:\n  boxyard templates push python.yaml            # template 'python'\n  boxyard templates push python.yaml --follow   # and watch its image build\n",
    )
    .action(async (file: string, opts: { name?: string; org?: string; json?: boolean; follow?: boolean }) => {
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
      text = await uploadLocalImage(text, file, conn.url, org, opts.json === true);
      const v = await conn.client.call(createTemplate, { params: { org }, body: { name, spec: text } });
      if (!opts.json) printWarnings(v.warnings);
      if (opts.follow) {
        if (!opts.json)
          process.stdout.write(
            `Template ${v.name} is now at version ${v.version} in ${org}; building its image.\n`,
          );
        const build = await followBuild(conn, { org, name: v.name, version: v.version, showLog: !opts.json });
        if (opts.json) return printJson({ ...v, buildStatus: build.status, build });
        process.stdout.write(`Create a box from it: boxyard create NAME --template ${v.name}\n`);
        return;
      }
      if (opts.json) return printJson(v);
      process.stdout.write(
        `Template ${v.name} is now at version ${v.version} in ${org}; its image is being built ('boxyard templates build ${v.name}@${v.version} --follow').\nCreate a box from it: boxyard create NAME --template ${v.name}\n`,
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
          { header: "image", value: (v) => imageOf(v) },
          { header: "build", value: (v) => v.buildStatus ?? "-" },
          { header: "by", value: (v) => v.createdBy ?? "-" },
          { header: "created", value: (v) => `${age(v.createdAt)} ago` },
        ])}\n`,
      );
    });
  templates
    .command("build")
    .description(
      "Show the image build of a template version (default: the latest): status, node, timings, layers; exits 1 when it failed",
    )
    .argument("<ref>", "NAME or NAME@VERSION")
    .option("--logs", "print the build's log")
    .option("--follow", "follow the build until it is ready or failed")
    .option("--retry", "build it again after a failed build (e.g. the mirror was unreachable)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard templates build python\n  boxyard templates build python@2 --logs\n  boxyard templates build python --follow\n  boxyard templates build python@2 --retry --follow\n",
    )
    .action(
      async (
        ref: string,
        opts: { logs?: boolean; follow?: boolean; retry?: boolean; org?: string; json?: boolean },
      ) => {
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const { name, version } = await resolveTemplateRef(conn, org, ref);
        const params = { org, name, version };
        if (opts.retry) {
          const queued = await conn.client.call(retryTemplateBuild, { params });
          if (!opts.follow) {
            if (opts.json) return printJson(queued);
            process.stdout.write(describeBuild(`${name}@${version}`, queued));
            return;
          }
        }
        if (opts.follow) {
          const build = await followBuild(conn, { org, name, version, showLog: !opts.json });
          if (opts.json) printJson(build);
          return;
        }
        const build = await conn.client.call(getTemplateBuild, { params });
        if (opts.json) return printJson(build);
        if (opts.logs) {
          const text = await conn.client.call(getTemplateBuildLogs, { params, query: {} });
          process.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
        }
        process.stdout.write(describeBuild(`${name}@${version}`, build));
        if (build.status === "failed") process.exitCode = 1;
      },
    );
}
