// Egress policy, resolved at attach time into what the nft sets hold.
import { lookup } from "node:dns/promises";
import type { EgressPolicy } from "@boxyard/runtime";
import { InvalidEgressError } from "./errors.ts";
import { parseIpv4 } from "./ipv4.ts";

export interface AllowedDestination {
  ip: string;
  port: number;
}

export type ResolvedEgress =
  | { kind: "deny-all" }
  | { kind: "allow-all" }
  | { kind: "allow-list"; destinations: AllowedDestination[] };

/** Returns the IPv4 addresses of a host name; injectable so unit tests need no DNS. */
export type HostResolver = (hostname: string) => Promise<string[]>;

export const dnsResolver: HostResolver = async (hostname) => {
  const results = await lookup(hostname, { all: true, family: 4 });
  return results.map((r) => r.address);
};

const ENTRY = /^([^:\s[\]]+):(\d{1,5})$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export interface ParsedEntry {
  host: string;
  port: number;
  /** True when `host` is a numeric IPv4 address and needs no resolution. */
  numeric: boolean;
}

/** Parses one "host:port" allow-list entry (IPv4 literal or DNS name). */
export function parseAllowEntry(entry: string): ParsedEntry {
  const m = ENTRY.exec(entry);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!m || host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidEgressError(
      `allow entry ${JSON.stringify(entry)} must be "host:port" with an IPv4 host`,
    );
  }
  if (parseIpv4(host) !== null) return { host, port, numeric: true };
  // Digits-and-dots that failed the strict parse (octal, short forms) are refused, not resolved.
  if (/^[\d.]+$/.test(host) || !HOSTNAME.test(host)) {
    throw new InvalidEgressError(`allow entry ${JSON.stringify(entry)} has an invalid host`);
  }
  return { host: host.toLowerCase(), port, numeric: false };
}

/**
 * Resolves a policy to addresses. DNS is asked only for entries that are
 * names; an entry that resolves to nothing fails the attach rather than
 * quietly giving the box less than its template asked for.
 */
export async function resolveEgress(policy: EgressPolicy, resolver: HostResolver): Promise<ResolvedEgress> {
  if (policy === "deny-all" || policy === "allow-all") return { kind: policy };
  if (typeof policy !== "object" || policy === null || !Array.isArray(policy.allow)) {
    throw new InvalidEgressError(`unknown egress policy ${JSON.stringify(policy)}`);
  }
  const seen = new Set<string>();
  const destinations: AllowedDestination[] = [];
  for (const entry of policy.allow) {
    const parsed = parseAllowEntry(entry);
    let ips: string[];
    if (parsed.numeric) {
      ips = [parsed.host];
    } else {
      try {
        ips = (await resolver(parsed.host)).filter((ip) => parseIpv4(ip) !== null);
      } catch (cause) {
        throw new InvalidEgressError(`cannot resolve ${parsed.host}`, { cause });
      }
      if (ips.length === 0) throw new InvalidEgressError(`${parsed.host} has no IPv4 address`);
    }
    for (const ip of ips) {
      const key = `${ip}:${parsed.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      destinations.push({ ip, port: parsed.port });
    }
  }
  return { kind: "allow-list", destinations };
}
