import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import ssh2 from "ssh2";

/**
 * The gateway's SSH host key, kept in the data dir so clients see the same
 * host key across restarts (no "REMOTE HOST IDENTIFICATION HAS CHANGED").
 */
export async function loadOrCreateHostKey(dir: string): Promise<{ privateKey: string; publicKey: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, "ssh_host_ed25519_key");
  try {
    const privateKey = await readFile(keyPath, "utf8");
    const publicKey = await readFile(`${keyPath}.pub`, "utf8");
    // A key an older version wrote malformed (see below) is replaced, not served.
    if (usable(privateKey, publicKey)) return { privateKey, publicKey: publicKey.trim() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  // ssh2 1.17 strips a leading zero byte from about 1 in 256 ed25519 public
  // keys it generates (mscdex/ssh2#1513), leaving a pair it cannot parse
  // itself: generate until the pair parses.
  let pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "boxyard-gateway" });
  for (let i = 0; i < 20 && !usable(pair.private, pair.public); i++)
    pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "boxyard-gateway" });
  // Written to temporary names and renamed, so a crash never leaves half a key.
  await writeFile(`${keyPath}.tmp`, pair.private, { mode: 0o600 });
  await writeFile(`${keyPath}.pub.tmp`, `${pair.public}\n`, { mode: 0o644 });
  await rename(`${keyPath}.pub.tmp`, `${keyPath}.pub`);
  await rename(`${keyPath}.tmp`, keyPath);
  return { privateKey: pair.private, publicKey: pair.public.trim() };
}

function usable(privateKey: string, publicKey: string): boolean {
  const priv = ssh2.utils.parseKey(privateKey);
  const pub = ssh2.utils.parseKey(publicKey);
  return !(priv instanceof Error) && !(pub instanceof Error) && !Array.isArray(priv) && !Array.isArray(pub);
}
