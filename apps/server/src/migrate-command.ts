import { createPool, MigrationError, migrate, migrationStatus, migrations } from "@boxyard/db";
import { startPrivatePostgres } from "@boxyard/postgres";
import { type RawServerFlags, resolveServerConfig, StartupError } from "./config.ts";
import { prepareDataDir } from "./data-dir.ts";

/** `boxyard migrate [--status]`: applies (or lists) schema migrations without starting the server. */
export async function runMigrateCommand(
  flags: Pick<RawServerFlags, "dataDir" | "databaseUrl">,
  opts: { statusOnly: boolean; print: (line: string) => void },
): Promise<void> {
  const config = resolveServerConfig(flags);
  let stopPg: (() => Promise<void>) | undefined;
  let url = config.databaseUrl;
  if (!url) {
    await prepareDataDir(config.dataDir);
    const pg = await startPrivatePostgres({ dataDir: config.dataDir, binDir: config.postgresBinDir });
    stopPg = () => pg.stop();
    url = pg.url;
  }
  const pool = createPool({ url, max: 2 });
  try {
    if (opts.statusOnly) {
      const s = await migrationStatus(pool, migrations);
      opts.print(`applied: ${s.applied.join(", ") || "none"}`);
      opts.print(`pending: ${s.pending.join(", ") || "none"}`);
      return;
    }
    const s = await migrate(pool, migrations, { log: opts.print });
    opts.print(`schema is at migration ${s.applied.at(-1) ?? 0}`);
  } catch (err) {
    if (err instanceof MigrationError) throw new StartupError(err.message, { cause: err });
    throw err;
  } finally {
    await pool.end();
    await stopPg?.();
  }
}
