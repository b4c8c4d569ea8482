import { listOrgs } from "@boxyard/contract";
import type { Connection } from "./context.ts";
import { CliError } from "./context.ts";

/** --org, then the saved default, then the caller's only org. */
export async function resolveOrg(conn: Connection, flag: string | undefined): Promise<string> {
  if (flag) return flag;
  if (conn.defaultOrg) return conn.defaultOrg;
  const { items } = await conn.client.call(listOrgs);
  if (items.length === 1) return items[0]!.name;
  if (items.length === 0)
    throw new CliError("you are not in any organisation", "create one: 'boxyard orgs create NAME'");
  throw new CliError(
    `you are in ${items.length} organisations; say which`,
    `pass --org NAME (one of: ${items.map((o) => o.name).join(", ")}) or 'boxyard login URL --token T --org NAME'`,
  );
}
