// The node-local box address pool. Pure: the caller owns persistence.
import { type Cidr, broadcastOf, gatewayOf } from "./ipv4.ts";

/** First and last address a box may get: skips network, gateway and broadcast. */
export function poolBounds(subnet: Cidr): { first: number; last: number } {
  return { first: gatewayOf(subnet) + 1, last: broadcastOf(subnet) - 1 };
}

/** How many boxes the subnet holds. */
export function poolSize(subnet: Cidr): number {
  const { first, last } = poolBounds(subnet);
  return Math.max(0, last - first + 1);
}

/**
 * The lowest free address, or null when the pool is exhausted. Lowest-first
 * keeps addresses dense and predictable, which makes leaks easy to see.
 */
export function allocateAddress(subnet: Cidr, taken: ReadonlySet<number>): number | null {
  const { first, last } = poolBounds(subnet);
  for (let candidate = first; candidate <= last; candidate++) {
    if (!taken.has(candidate)) return candidate;
  }
  return null;
}
