// `boxyard secrets set|ls|rm`: an org's secrets. A value is read from
// stdin (piped, or typed without echo on a terminal) or from a file, never
// from the command line, where the shell history and the process list would
// keep it. Boxes whose template lists a secret get it as
// /run/boxyard/secrets/NAME while they run.

import { readFile } from "node:fs/promises";
import { createSecret, deleteSecret, listSecrets } from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";

const SCOPE_HELP = "org (default; owners and admins), team:NAME (owners and admins) or user (your own)";

function utf8(bytes: Buffer, where: string): string {
  const text = bytes.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(bytes))
    throw new CliError(`${where} is not UTF-8 text; store binary values base64-encoded`);
  return text;
}

/** Everything on stdin, without the one newline `echo` or a here-string adds. */
async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return utf8(Buffer.concat(chunks), "stdin").replace(/\r?\n$/, "");
}

/** One line typed on the terminal, not echoed. */
async function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  const bytes: number[] = [];
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const b of chunk) {
          if (b === 3) return reject(new CliError("cancelled"));
          if (b === 13 || b === 10) return resolve(utf8(Buffer.from(bytes), "the value"));
          if (b === 127 || b === 8) bytes.pop();
          else bytes.push(b);
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stdin.removeAllListeners("data");
    process.stderr.write("\n");
    bytes.fill(0);
  }
}

export function registerSecretCommands(program: Command): void {
  const secrets = program
    .command("secrets")
    .description(
      "An organisation's secrets: boxes whose template lists one get it as /run/boxyard/secrets/NAME",
    );

  secrets
    .command("set")
    .description("Set a secret's value (read from stdin or --from-file; never from the command line)")
    .argument("<name>", "letters, digits and _, not starting with a digit (e.g. GITHUB_TOKEN)")
    .option("--scope <scope>", SCOPE_HELP, "org")
    .option("--from-file <path>", "take the value from this file, byte for byte")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      '\nThe value is stored encrypted and no command or API shows it again.\n\nExamples:\n  printf %s "$TOKEN" | boxyard secrets set GITHUB_TOKEN\n  boxyard secrets set DEPLOY_KEY --from-file ~/.ssh/deploy_key --scope team:web\n  boxyard secrets set NPM_TOKEN --scope user      (typed, not echoed)\n',
    )
    .action(
      async (name: string, opts: { scope: string; fromFile?: string; org?: string; json?: boolean }) => {
        let value: string;
        if (opts.fromFile) value = utf8(await readFile(opts.fromFile), opts.fromFile);
        else if (process.stdin.isTTY) value = await readHidden(`Value for ${name} (not echoed): `);
        else value = await readPiped();
        if (value.length === 0) throw new CliError("the value is empty; nothing was set");
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const s = await conn.client.call(createSecret, {
          params: { org },
          body: { name, value, scope: opts.scope },
        });
        value = "";
        if (opts.json) return printJson(s);
        process.stdout.write(`Set ${s.name} (${s.scope}) in ${org}\n`);
      },
    );

  secrets
    .command("ls")
    .description("List the secrets you can see: names, scopes and when they changed (never values)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExamples:\n  boxyard secrets ls\n  boxyard secrets ls --org acme --json\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listSecrets, { params: { org } });
      if (opts.json) return printJson(items);
      if (items.length === 0) {
        process.stdout.write(`No secrets in ${org}. Set one with 'boxyard secrets set NAME'.\n`);
        return;
      }
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (s) => s.name },
          { header: "scope", value: (s) => s.scope },
          { header: "updated", value: (s) => `${age(s.updatedAt)} ago` },
        ])}\n`,
      );
    });

  secrets
    .command("rm")
    .description("Delete a secret of one scope; boxes no longer get it from their next start")
    .argument("<name>", "secret name")
    .option("--scope <scope>", SCOPE_HELP, "org")
    .option("--org <org>", "organisation")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard secrets rm GITHUB_TOKEN\n  boxyard secrets rm NPM_TOKEN --scope user\n",
    )
    .action(async (name: string, opts: { scope: string; org?: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      await conn.client.call(deleteSecret, { params: { org, name }, query: { scope: opts.scope } });
      process.stdout.write(`Deleted ${name} (${opts.scope}) from ${org}\n`);
    });
}
