// The node's box network: one Linux bridge per node, one network namespace and
// veth pair per box, addresses from a node-local pool, and nftables rules that
// keep boxes away from the host, the metadata address, and each other.
// The gvisor runtime driver consumes this through the BoxNetworks interface.

import type { EgressPolicy } from "@boxyard/runtime";

export interface BoxNetwork {
  boxId: string;
  /** Name under /var/run/netns (derived from the box id, never the raw id). */
  netnsName: string;
  /** /var/run/netns/<netnsName>: put this in the OCI spec's network namespace path. */
  netnsPath: string;
  /** Host-side veth attached to the node bridge (at most 15 characters). */
  hostVeth: string;
  /** Box-side interface name inside the netns. */
  boxInterface: string;
  /** The box's IPv4 address, e.g. "10.213.0.7". */
  address: string;
  prefixLength: number;
  /** The bridge address: the box's default gateway. */
  gateway: string;
  /**
   * MAC of the box interface. The bridge drops frames from the box's port
   * with any other source MAC (anti-spoofing), so the sandbox must keep it.
   */
  mac: string;
  egress: EgressPolicy;
  /**
   * Only in attach()'s answer: true when that call made the box's veth and
   * so configured the inside of the netns (address, route) itself. No
   * sandbox has used it yet, so the box's first start needs no reset().
   */
  configured?: boolean;
}

export interface BoxNetworks {
  /** Create (or find, if it exists) the box's netns, veth, address and rules. Idempotent. */
  attach(boxId: string, opts: { egress: EgressPolicy }): Promise<BoxNetwork>;
  /**
   * Put the address and default route back on the box interface inside the
   * netns. runsc's netstack takes the address off the veth and does not give
   * it back, so this runs before every sandbox start or restore.
   */
  reset(boxId: string): Promise<BoxNetwork>;
  /** Remove netns, veth, rules and the address allocation. Absent: no-op. */
  detach(boxId: string): Promise<void>;
  get(boxId: string): Promise<BoxNetwork | null>;
  list(): Promise<BoxNetwork[]>;
}
