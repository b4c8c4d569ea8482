// Where the secrets master key comes from: BOXYARD_SECRETS_KEY (or its alias
// BOXYARD_MASTER_KEY) holding 32 bytes as base64 or hex, for operators who
// keep the key outside the machine; otherwise a key file in the data dir,
// created with mode 0600 at first start. Losing the key loses every secret's
// value (the rows stay, undecryptable), so the file belongs in backups kept
// apart from the database's.

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SecretKeyError, SecretKeyring } from "./keyring.ts";

export const SECRETS_KEY_FILE = "secrets-key";

/** 32 bytes from base64 (standard or url-safe) or 64 hex digits. */
export function parseMasterKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== 32)
    throw new SecretKeyError(
      `${where} must hold a 32-byte key as base64 or 64 hex digits (e.g. from 'openssl rand -base64 32')`,
    );
  return key;
}

export interface MasterKeySource {
  dataDir: string;
  env?: Record<string, string | undefined>;
}

/** The keyring for this server; creates the key file on first start when no key is configured. */
export async function loadSecretKeyring(src: MasterKeySource): Promise<SecretKeyring> {
  const env = src.env ?? process.env;
  for (const name of ["BOXYARD_SECRETS_KEY", "BOXYARD_MASTER_KEY"]) {
    const v = env[name];
    if (v) return new SecretKeyring(parseMasterKey(v, name));
  }
  const path = join(src.dataDir, SECRETS_KEY_FILE);
  try {
    return new SecretKeyring(parseMasterKey(await readFile(path, "utf8"), path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  // O_EXCL: two processes starting at once agree on one key (the loser reads the winner's).
  try {
    const f = await open(path, "wx", 0o600);
    try {
      await f.writeFile(`${key.toString("base64")}\n`);
      await f.sync();
    } finally {
      await f.close();
    }
    return new SecretKeyring(key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return new SecretKeyring(parseMasterKey(await readFile(path, "utf8"), path));
  }
}
