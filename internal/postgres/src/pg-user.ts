// The system user PostgreSQL runs as. PostgreSQL refuses to run as root, so a
// root server hands it to a dedicated unprivileged user.

import { execFile } from "node:child_process";
import { userInfo } from "node:os";
import { promisify } from "node:util";
import { PgUserMissingError } from "./errors.ts";

const execFileAsync = promisify(execFile);

export interface PgUser {
  name: string;
  uid: number;
  gid: number;
  /** True when PostgreSQL runs as another user than this process. */
  switchUser: boolean;
}

export const DEFAULT_PG_USER = "boxyard";

/** Resolves `name` (default: "boxyard" as root, else the current user) to ids. */
export async function resolvePgUser(options: { name?: string } = {}): Promise<PgUser> {
  const current = userInfo();
  const name = options.name ?? (current.uid === 0 ? DEFAULT_PG_USER : current.username);
  if (name === current.username) {
    return { name, uid: current.uid, gid: current.gid, switchUser: false };
  }
  try {
    // `id` consults NSS, so users from LDAP and the like resolve too.
    const [uid, gid] = await Promise.all([
      execFileAsync("id", ["-u", name]).then((r) => Number(r.stdout.trim())),
      execFileAsync("id", ["-g", name]).then((r) => Number(r.stdout.trim())),
    ]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`bad id output for ${name}`);
    if (uid === 0) throw new Error("PostgreSQL refuses to run as root");
    return { name, uid, gid, switchUser: uid !== current.uid };
  } catch {
    throw new PgUserMissingError(name);
  }
}

/** spawn() options that run a child as the pg user, with an environment that carries no secrets of ours. */
export function pgUserSpawnOptions(user: PgUser): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", TZ: "UTC" };
  return user.switchUser ? { uid: user.uid, gid: user.gid, env } : { env };
}
