import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { listBoxes } from "@boxyard/contract";
import type { Command } from "commander";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
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
