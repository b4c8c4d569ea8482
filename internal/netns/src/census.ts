// What exists on the host under a name prefix: network namespaces, links and
// nft tables. Leak-census assertions across the repo compare this to empty
// (or to the expected set) after a test file or a fault run.
import { readdir } from "node:fs/promises";
import { type CommandRunner, runChecked, spawnRunner } from "./commands.ts";

export interface Census {
  netns: string[];
  links: string[];
  /** "family name", e.g. "inet by_boxes". */
  nftTables: string[];
}

export interface CensusOptions {
  runner?: CommandRunner;
  netnsDir?: string;
}

/**
 * Matches the names this module derives: netns and host veths are
 * "<prefix>-…", the bridge "<prefix>br0", tables "<prefix>_…". Prefixes
 * cannot contain "-" or "_", so "by" never counts "byt1"'s resources. Tests
 * should name their own extra interfaces "<prefix>-…" so the census sees them.
 */
export async function census(prefix: string, opts: CensusOptions = {}): Promise<Census> {
  const runner = opts.runner ?? spawnRunner;
  const netnsDir = opts.netnsDir ?? "/var/run/netns";
  let netnsEntries: string[] = [];
  try {
    netnsEntries = await readdir(netnsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const links = JSON.parse((await runChecked(runner, ["ip", "-j", "link", "show"])).stdout) as Array<{
    ifname: string;
  }>;
  const tables = (await runChecked(runner, ["nft", "list", "tables"])).stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts[0] === "table" && parts.length === 3)
    .map((parts) => ({ family: parts[1] ?? "", name: parts[2] ?? "" }));
  return {
    netns: netnsEntries.filter((n) => n.startsWith(`${prefix}-`)).sort(),
    links: links
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(`${prefix}-`) || n === `${prefix}br0`)
      .sort(),
    nftTables: tables
      .filter((t) => t.name.startsWith(`${prefix}_`))
      .map((t) => `${t.family} ${t.name}`)
      .sort(),
  };
}

export function isEmptyCensus(c: Census): boolean {
  return c.netns.length === 0 && c.links.length === 0 && c.nftTables.length === 0;
}
