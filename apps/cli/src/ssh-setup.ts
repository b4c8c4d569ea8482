import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { addMySshKey, listMySshKeys, serverInfo } from "@boxyard/contract";
import { ApiError } from "@boxyard/sdk";
import { configPath } from "./config.ts";
import { CliError, type Connection } from "./context.ts";

const run = promisify(execFile);

export interface SshSetup {
  host: string;
  port: number;
  identityFile: string;
  knownHostsFile: string;
}

/** The host name OpenSSH pins the gateway's key under, whatever address it is reached at. */
export const HOST_KEY_ALIAS = "boxyard-gateway";

/**
 * Makes sure this machine can SSH to boxes: a key pair of the CLI's own
 * (registered with the server once), and the gateway's host key pinned in a
 * known_hosts file of the CLI's own, learned over the authenticated API
 * rather than trusted on first use.
 */
export async function ensureSshSetup(conn: Connection): Promise<SshSetup> {
  const info = await conn.client.call(serverInfo);
  if (!info.sshGateway)
    throw new CliError("this server has no SSH gateway", "run the server with the gateway role");
  const dir = dirname(configPath());
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identityFile = join(dir, "id_ed25519");
  if (!existsSync(identityFile)) {
    await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-f",
      identityFile,
      "-C",
      `boxyard-cli@${hostname()}`,
    ]).catch(() => {
      throw new CliError(
        "cannot create an SSH key: ssh-keygen is missing",
        "install OpenSSH (openssh-client)",
      );
    });
  }
  const publicKey = (await readFile(`${identityFile}.pub`, "utf8")).trim();
  const mine = await conn.client.call(listMySshKeys);
  const blob = publicKey.split(" ").slice(0, 2).join(" ");
  if (!mine.items.some((k) => k.publicKey === blob)) {
    try {
      await conn.client.call(addMySshKey, {
        body: {
          name: `cli-${
            hostname()
              .toLowerCase()
              .replace(/[^a-z0-9-]/g, "-")
              .slice(0, 40) || "host"
          }`,
          publicKey,
        },
      });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "ssh_key_exists")) throw err;
    }
  }
  const knownHostsFile = join(dir, "known_hosts");
  await writeFile(knownHostsFile, `${HOST_KEY_ALIAS} ${info.sshGateway.hostKey}\n`, { mode: 0o600 });
  return { host: info.sshGateway.host, port: info.sshGateway.port, identityFile, knownHostsFile };
}

/** OpenSSH options that reach the gateway with the CLI's key and pinned host key. */
export function sshOptions(s: SshSetup): string[] {
  return [
    "-p",
    String(s.port),
    "-i",
    s.identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${s.knownHostsFile}`,
    "-o",
    `HostKeyAlias=${HOST_KEY_ALIAS}`,
    "-o",
    "StrictHostKeyChecking=yes",
  ];
}
