import { rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mintToken } from "@boxyard/auth";
import { authorizedStore } from "@boxyard/authz";
import { inTx } from "@boxyard/db";
import type { Clock, IdGen } from "@boxyard/platform";
import type pg from "pg";

const ADMIN_TOKEN_LIFETIME_MS = 366 * 24 * 3600 * 1000;

export interface BootstrapResult {
  created: boolean;
  tokenPath: string;
}

/**
 * On the first start, creates the site admin and writes its API token to
 * DATA_DIR/admin-token (0600). The token file is written before the
 * transaction commits, so a crash in between leaves either no admin (and the
 * next start tries again) or an admin whose token is on disk; never an admin
 * nobody can log in as.
 */
export async function bootstrapAdmin(opts: {
  pool: pg.Pool;
  dataDir: string;
  clock: Clock;
  ids: IdGen;
}): Promise<BootstrapResult> {
  const tokenPath = join(opts.dataDir, "admin-token");
  return inTx(opts.pool, async (tx) => {
    const store = authorizedStore(tx, { kind: "system", name: "bootstrap" });
    await store.lockBootstrap();
    if ((await store.countUsers()) > 0) return { created: false, tokenPath };
    const user = await store.insertUser({ id: opts.ids.newId("usr"), username: "admin", siteAdmin: true });
    const minted = mintToken();
    await store.insertToken({
      id: minted.id,
      userId: user.id,
      name: "bootstrap",
      secretHash: minted.secretHash,
      expiresAt: new Date(opts.clock.now().getTime() + ADMIN_TOKEN_LIFETIME_MS),
    });
    const tmp = `${tokenPath}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, `${minted.token}\n`, { mode: 0o600 });
      await rename(tmp, tokenPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { created: true, tokenPath };
  });
}
