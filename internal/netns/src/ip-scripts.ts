// ip(8) batch scripts for the node bridge and one box, as pure functions.
// Batching matters: attach is on the box-start critical path, and each ip
// process costs a few milliseconds. `ip -batch` cannot switch netns per line,
// so a box takes one host-side batch and one `ip -n <netns> -batch`.
// Everything is written to be re-runnable: `replace` instead of `add`, and
// create lines only for what the caller found missing.
import { BOX_INTERFACE } from "./names.ts";

export interface BridgeSpec {
  bridge: string;
  /** Fixed so boxes' ARP entries for the gateway survive ports coming and going. */
  mac: string;
  gatewayCidr: string;
}

export function bridgeScript(spec: BridgeSpec, exists: boolean): string {
  const lines = [];
  if (!exists) lines.push(`link add ${spec.bridge} address ${spec.mac} type bridge`);
  lines.push(
    `link set ${spec.bridge} address ${spec.mac}`,
    // No IPv6 link-local address: boxes get IPv4 only, and the bridge
    // table drops every other ether type from box ports.
    `link set ${spec.bridge} addrgenmode none`,
    `addr replace ${spec.gatewayCidr} dev ${spec.bridge}`,
    `link set ${spec.bridge} up`,
  );
  return `${lines.join("\n")}\n`;
}

export interface BoxLinkSpec {
  netnsName: string;
  hostVeth: string;
  mac: string;
  bridge: string;
}

export interface Present {
  netns: boolean;
  hostVeth: boolean;
}

/** Host side: netns, veth pair (box end created directly inside the netns), bridge port. */
export function hostAttachScript(spec: BoxLinkSpec, present: Present): string {
  const lines = [];
  if (!present.netns) lines.push(`netns add ${spec.netnsName}`);
  if (!present.hostVeth) {
    lines.push(
      `link add ${spec.hostVeth} type veth peer name ${BOX_INTERFACE} netns ${spec.netnsName} address ${spec.mac}`,
    );
  }
  lines.push(
    `link set ${spec.hostVeth} addrgenmode none`,
    `link set ${spec.hostVeth} master ${spec.bridge}`,
    // Defence in depth next to the nft bridge forward rule: isolated ports
    // never forward to each other, only to the bridge itself.
    `link set ${spec.hostVeth} type bridge_slave isolated on`,
    `link set ${spec.hostVeth} up`,
  );
  return `${lines.join("\n")}\n`;
}

export interface BoxAddressSpec {
  mac: string;
  addressCidr: string;
  gateway: string;
}

/** Inside the netns; also what reset() runs, since runsc's netstack takes the address away. */
export function netnsScript(spec: BoxAddressSpec): string {
  return `${[
    "link set lo up",
    `link set ${BOX_INTERFACE} address ${spec.mac}`,
    `link set ${BOX_INTERFACE} addrgenmode none`,
    `link set ${BOX_INTERFACE} up`,
    // Flush first: exactly one address, even if an earlier allocation left another.
    `addr flush dev ${BOX_INTERFACE}`,
    `addr add ${spec.addressCidr} dev ${BOX_INTERFACE}`,
    `route replace default via ${spec.gateway} dev ${BOX_INTERFACE}`,
  ].join("\n")}\n`;
}

/** Deleting the host veth takes the box end with it. */
export function hostDetachScript(
  spec: Pick<BoxLinkSpec, "netnsName" | "hostVeth">,
  present: Present,
): string {
  const lines = [];
  if (present.hostVeth) lines.push(`link del ${spec.hostVeth}`);
  if (present.netns) lines.push(`netns del ${spec.netnsName}`);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
