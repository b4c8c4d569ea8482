import { BoxyardClient } from "@boxyard/sdk";
import { VERSION } from "./version.ts";
import { readConfig } from "./config.ts";

export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface Connection {
  client: BoxyardClient;
  url: string;
  defaultOrg: string | undefined;
}

/** BOXYARD_URL / BOXYARD_TOKEN win over the saved login. */
export async function connect(env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const cfg = await readConfig(env);
  const url = env.BOXYARD_URL || cfg?.url;
  const token = env.BOXYARD_TOKEN || cfg?.token;
  if (!url || !token) {
    throw new CliError(
      "not logged in",
      "run 'boxyard login URL --token TOKEN' (or set BOXYARD_URL and BOXYARD_TOKEN)",
    );
  }
  return {
    client: new BoxyardClient({ baseUrl: url, token, userAgent: `boxyard-cli/${VERSION}` }),
    url,
    defaultOrg: env.BOXYARD_ORG || cfg?.org,
  };
}
