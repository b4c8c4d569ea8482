import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { listBoxes, listBoxPorts, setBoxPort } from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { formatTable, printJson } from "../output.ts";
import { ensureSshSetup, HOST_KEY_ALIAS, sshOptions } from "../ssh-setup.ts";

const BEGIN = "# --- BEGIN BOXYARD (managed by 'boxyard config-ssh'; edits here are replaced) ---";
const END = "# --- END BOXYARD ---";

function runSsh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", args, { stdio: "inherit" });
    child.on("error", () =>
      reject(new CliError("the ssh command is missing", "install OpenSSH (openssh-client)")),
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Replaces the marked block in an ssh config, or appends it; everything else stays as it was. */
export function replaceManagedBlock(existing: string, block: string): string {
  const start = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  const managed = `${BEGIN}\n${block}${END}\n`;
  if (start >= 0 && end > start)
    return existing.slice(0, start) + managed + existing.slice(end + END.length).replace(/^\n/, "");
  return `${existing}${existing && !existing.endsWith("\n") ? "\n" : ""}${existing ? "\n" : ""}${managed}`;
}

export function registerSshCommands(program: Command): void {
  program
    .command("ssh")
    .description("Open a shell in a box (or run a command) over SSH")
    .argument("<name>")
    .argument("[command...]", "a command to run instead of a shell (after --)")
    .option("--org <org>", "organisation")
    .addHelpText("after", "\nExamples:\n  boxyard ssh web\n  boxyard ssh web -- uname -a\n")
    .action(async (name: string, command: string[], opts: { org?: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const s = await ensureSshSetup(conn);
      const tty = process.stdin.isTTY && command.length === 0 ? ["-t"] : [];
      process.exitCode = await runSsh([...sshOptions(s), ...tty, `${name}.${org}@${s.host}`, ...command]);
    });

  const portsCmd = program.command("ports").description("A box's port previews and who may open them");
  portsCmd
    .command("ls")
    .description(
      "List the box's ports: those its template declares and those shared (every other port is private)",
    )
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard ports ls web\n")
    .action(async (name: string, opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listBoxPorts, { params: { org, box: name } });
      if (opts.json) return printJson(items);
      if (items.length === 0) {
        process.stdout.write(
          `No declared or shared ports: previews of ${name} open only for people who may connect to it.\nPreview any port at ${conn.url}/preview/${org}/${name}/PORT/\n`,
        );
        return;
      }
      process.stdout.write(
        `${formatTable(items, [
          { header: "port", value: (p) => String(p.port) },
          { header: "name", value: (p) => p.label || "-" },
          { header: "visibility", value: (p) => p.visibility },
          { header: "preview", value: (p) => `${conn.url}${p.previewPath}` },
        ])}\n`,
      );
    });
  portsCmd
    .command("share")
    .description("Share a port's preview with the org or anyone with the link, or make it private again")
    .argument("<name>")
    .argument("<port>")
    .option("--org <org>", "organisation")
    .option("--org-wide", "any member of the box's organisation")
    .option("--public", "anyone with the link, signed in or not")
    .option("--private", "only people who may connect to the box (the default for every port)")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard ports share web 3000 --public\n  boxyard ports share web 3000 --private\n",
    )
    .action(
      async (
        name: string,
        portText: string,
        opts: { org?: string; orgWide?: boolean; public?: boolean; private?: boolean; json?: boolean },
      ) => {
        const port = Number(portText);
        if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535)
          throw new CliError(`bad port '${portText}'`, "use a port number from 1 to 65535");
        const chosen = [opts.public && "public", opts.orgWide && "org", opts.private && "private"].filter(
          Boolean,
        ) as Array<"public" | "org" | "private">;
        if (chosen.length !== 1)
          throw new CliError(
            "say who may open the preview",
            "pass exactly one of --public, --org-wide or --private",
          );
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const p = await conn.client.call(setBoxPort, {
          params: { org, box: name, port },
          body: { visibility: chosen[0]! },
        });
        if (opts.json) return printJson(p);
        process.stdout.write(`${conn.url}${p.previewPath} is now ${p.visibility}.\n`);
      },
    );

  program
    .command("port-forward")
    .description("Forward a local port to a port inside a box (until Ctrl-C)")
    .argument("<name>")
    .argument("<ports>", "LOCAL:REMOTE, e.g. 8080:8080")
    .option("--org <org>", "organisation")
    .addHelpText("after", "\nExample:\n  boxyard port-forward web 8080:3000\n")
    .action(async (name: string, ports: string, opts: { org?: string }) => {
      const m = /^(\d{1,5}):(\d{1,5})$/.exec(ports);
      const local = Number(m?.[1]);
      const remote = Number(m?.[2]);
      if (!m || local < 1 || local > 65535 || remote < 1 || remote > 65535) {
        throw new CliError(`bad port pair '${ports}'`, "use LOCAL:REMOTE with ports 1-65535, e.g. 8080:8080");
      }
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const s = await ensureSshSetup(conn);
      process.stderr.write(`Forwarding 127.0.0.1:${local} -> ${name}:${remote} (Ctrl-C to stop)\n`);
      process.exitCode = await runSsh([
        ...sshOptions(s),
        "-N",
        "-L",
        `127.0.0.1:${local}:127.0.0.1:${remote}`,
        `${name}.${org}@${s.host}`,
      ]);
    });

  program
    .command("config-ssh")
    .description("Write a 'Host boxyard.NAME' entry per box to ~/.ssh/config, so plain ssh and IDEs work")
    .option("--org <org>", "organisation")
    .option("--ssh-config <path>", "the ssh config file to update", join(homedir(), ".ssh", "config"))
    .addHelpText("after", "\nExample:\n  boxyard config-ssh && ssh boxyard.web\n")
    .action(async (opts: { org?: string; sshConfig: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const s = await ensureSshSetup(conn);
      const boxes = (await conn.client.call(listBoxes, { params: { org }, query: { limit: 200 } })).items;
      const block = boxes
        .map((b) =>
          [
            `Host boxyard.${b.name}`,
            `  HostName ${s.host}`,
            `  Port ${s.port}`,
            `  User ${b.name}.${org}`,
            `  IdentityFile ${s.identityFile}`,
            "  IdentitiesOnly yes",
            `  UserKnownHostsFile ${s.knownHostsFile}`,
            `  HostKeyAlias ${HOST_KEY_ALIAS}`,
            "",
          ].join("\n"),
        )
        .join("");
      let existing = "";
      try {
        existing = await readFile(opts.sshConfig, "utf8");
      } catch {
        // No config yet.
      }
      const { mkdir } = await import("node:fs/promises");
      await mkdir(join(opts.sshConfig, ".."), { recursive: true, mode: 0o700 });
      await writeFile(opts.sshConfig, replaceManagedBlock(existing, block), { mode: 0o600 });
      process.stdout.write(
        `Wrote ${boxes.length} host entr${boxes.length === 1 ? "y" : "ies"} to ${opts.sshConfig}: ssh boxyard.NAME\n`,
      );
    });
}
