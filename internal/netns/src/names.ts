// Every host-visible name is derived from the node prefix and a hash of the
// box id, never from the raw id: ids come from the control plane, names end
// up in ip(8) and nft(8) command lines and in a 15-character kernel field.
import { createHash } from "node:crypto";
import { InvalidBoxIdError, InvalidNetworkConfigError } from "./errors.ts";

const BOX_ID = /^[a-z0-9_]{1,32}$/;
/** Short enough that `${prefix}-` plus an 8-hex-digit hash still fits IFNAMSIZ-1. */
const PREFIX = /^[a-z][a-z0-9]{0,5}$/;
/** Linux interface names, restricted to characters that need no quoting in nft or ip. */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export const MAX_IFNAME_LENGTH = 15;
/** The box end of the veth pair, inside the box's own netns. */
export const BOX_INTERFACE = "eth0";

export interface BoxNames {
  netnsName: string;
  netnsPath: string;
  hostVeth: string;
}

export interface NodeNames {
  bridge: string;
  /** `inet` table: host input, forwarding and masquerade. */
  inetTable: string;
  /** `bridge` table: anti-spoofing and port-to-port isolation. */
  bridgeTable: string;
  /** nft wildcard matching every host veth of this prefix and of no other prefix. */
  hostVethPattern: string;
}

export function validateBoxId(boxId: string): void {
  if (!BOX_ID.test(boxId)) throw new InvalidBoxIdError(boxId);
}

export function validatePrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new InvalidNetworkConfigError(`prefix ${JSON.stringify(prefix)} must match ${PREFIX.source}`);
  }
}

export function validateInterfaceName(name: string, what: string): void {
  if (!IFNAME.test(name)) {
    throw new InvalidNetworkConfigError(`${what} ${JSON.stringify(name)} is not a valid interface name`);
  }
}

export function nodeNames(prefix: string): NodeNames {
  validatePrefix(prefix);
  return {
    bridge: `${prefix}br0`,
    inetTable: `${prefix}_boxes`,
    bridgeTable: `${prefix}_boxes_l2`,
    hostVethPattern: `${prefix}-*`,
  };
}

export function boxNames(prefix: string, boxId: string, netnsDir = "/var/run/netns"): BoxNames {
  validatePrefix(prefix);
  validateBoxId(boxId);
  const hash = createHash("sha256").update(boxId).digest("hex");
  const netnsName = `${prefix}-${hash.slice(0, 10)}`;
  // The veth takes as much of the hash as fits: at least 8 hex digits. The
  // "-" cannot occur in a prefix, so "<prefix>-*" matches only this node's veths.
  const hostVeth = `${prefix}-${hash.slice(0, MAX_IFNAME_LENGTH - prefix.length - 1)}`;
  return { netnsName, netnsPath: `${netnsDir}/${netnsName}`, hostVeth };
}

/**
 * A locally administered unicast MAC built from the IPv4 address, so it is
 * unique on the node bridge by construction and the anti-spoofing set can
 * pin each port to one MAC.
 */
export function macForAddress(address: number): string {
  const bytes = [0x02, 0xb7, address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
