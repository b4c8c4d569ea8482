import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";

const CliConfig = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  /** The org commands use when --org is not given. */
  org: z.string().optional(),
});
export type CliConfig = z.infer<typeof CliConfig>;

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "boxyard", "config.json");
}

export async function readConfig(env: NodeJS.ProcessEnv = process.env): Promise<CliConfig | null> {
  try {
    const parsed = CliConfig.safeParse(JSON.parse(await readFile(configPath(env), "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Written 0600 in a 0700 directory: the file holds an API token. */
export async function writeConfig(cfg: CliConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await chmod(dirname(path), 0o700);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return path;
}
