// The nftables policy of the box network, as pure text generators.
//
// Two tables per prefix (runtime-probe.md section 7, extended):
// * `inet <prefix>_boxes`: what boxes may do at layer 3 on the host: reach
//   only the allowed TCP ports on the gateway address, never the metadata
//   range, and be forwarded only to the uplink, only per their egress policy;
//   and, on the host's side, only root's sockets may open a connection to a
//   box's control port (BOX_CONTROL_PORT: PID 1's exec port).
// * `bridge <prefix>_boxes_l2`: layer 2 on the node bridge: each port may
//   send only from its own MAC and IPv4 address (anti-spoofing, including ARP),
//   ports never talk to each other, and the host's flooded unicast for one box
//   never reaches another.
// Per-box state lives only in set elements, so attach and detach are small
// element transactions; the whole table is loaded only when the node opens.
import type { AllowedDestination, ResolvedEgress } from "./egress.ts";
import type { NodeNames } from "./names.ts";

/**
 * The TCP port on which a box's PID 1 serves the node agent (the exec port,
 * boxinit.c EXEC_PORT; it asks a token of every request): host processes
 * other than root's are refused before they reach it.
 */
export const BOX_CONTROL_PORT = 1019;

export interface RulesetConfig {
  names: NodeNames;
  /** Box subnet in CIDR form, e.g. "10.213.0.0/16". */
  subnet: string;
  /** Gateway (bridge) address, e.g. "10.213.0.1". */
  gateway: string;
  hostPorts: readonly number[];
  /** Interface that allow-all and allow-list boxes are forwarded to; null: no egress at all. */
  uplink: string | null;
  /** Destinations allow-all boxes may not reach (an allow-list entry may still name one). */
  privateRanges: readonly string[];
}

/** What the sets hold for one box. */
export interface BoxRuleEntry {
  hostVeth: string;
  address: string;
  mac: string;
  egress: ResolvedEgress;
}

/**
 * Never reachable by any box, whatever its policy: "this network", loopback,
 * link-local (cloud metadata lives at 169.254.169.254), multicast, reserved
 * and broadcast. The box subnet itself is added per node.
 */
export const NEVER_RANGES = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4"];

/** RFC 1918, CGNAT and benchmarking space: other tenants' and the operator's networks. */
export const DEFAULT_PRIVATE_RANGES = [
  "10.0.0.0/8",
  "100.64.0.0/10",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "198.18.0.0/15",
];

function q(name: string): string {
  return `"${name}"`;
}

function elements(items: readonly string[]): string {
  return items.length === 0 ? "" : ` elements = { ${items.join(", ")} }`;
}

function allowTuple(box: BoxRuleEntry, d: AllowedDestination): string {
  return `${box.address} . ${d.ip} . ${d.port}`;
}

export interface BoxSetElements {
  portMacs: string[];
  portAddrs: string[];
  egressAll: string[];
  egressAllow: string[];
}

export function boxSetElements(box: BoxRuleEntry): BoxSetElements {
  const egress = box.egress;
  return {
    portMacs: [`${q(box.hostVeth)} . ${box.mac}`],
    portAddrs: [`${q(box.hostVeth)} . ${box.address}`],
    egressAll: egress.kind === "allow-all" ? [box.address] : [],
    egressAllow: egress.kind === "allow-list" ? egress.destinations.map((d) => allowTuple(box, d)) : [],
  };
}

function inetTable(config: RulesetConfig, boxes: readonly BoxRuleEntry[]): string {
  const { bridge, inetTable: table } = config.names;
  const all = boxes.map(boxSetElements);
  const br = q(bridge);
  const egressRules =
    config.uplink === null
      ? ['    drop comment "no uplink: no egress"']
      : [
          `    oifname != ${q(config.uplink)} drop`,
          "    ip daddr @never_dst drop",
          "    meta l4proto { tcp, udp } ip saddr . ip daddr . th dport @egress_allow accept",
          "    ip daddr @private_dst drop",
          "    ip saddr @egress_all accept",
          "    drop",
        ];
  const lines = [
    `table inet ${table} {`,
    `  set host_ports { type inet_service;${elements(config.hostPorts.map(String))} }`,
    `  set never_dst { type ipv4_addr; flags interval; auto-merge;${elements([...NEVER_RANGES, config.subnet])} }`,
    `  set private_dst { type ipv4_addr; flags interval; auto-merge;${elements(config.privateRanges)} }`,
    `  set egress_all { type ipv4_addr;${elements(all.flatMap((b) => b.egressAll))} }`,
    `  set egress_allow { type ipv4_addr . ipv4_addr . inet_service;${elements(all.flatMap((b) => b.egressAllow))} }`,
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname != ${br} accept`,
    "    ip daddr 169.254.0.0/16 drop",
    "    ct state established,related accept",
    `    ip daddr ${config.gateway} tcp dport @host_ports accept`,
    "    meta l4proto tcp reject with tcp reset",
    "    meta l4proto udp reject",
    "    drop",
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    `    iifname != ${br} oifname != ${br} accept`,
    // A box could send a packet for another box to the gateway's MAC; the
    // host must not route it back onto the bridge.
    `    iifname ${br} oifname ${br} drop`,
    `    oifname ${br} ct state established,related accept`,
    `    oifname ${br} drop`,
    ...egressRules,
    "  }",
    "  chain box_control {",
    "    type filter hook output priority filter; policy accept;",
    `    ip daddr ${config.subnet} tcp dport ${BOX_CONTROL_PORT} meta skuid != 0 reject with tcp reset`,
    "  }",
  ];
  if (config.uplink !== null) {
    lines.push(
      "  chain postrouting {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    oifname ${q(config.uplink)} ip saddr ${config.subnet} masquerade`,
      "  }",
    );
  }
  lines.push("}");
  return lines.join("\n");
}

function bridgeTable(config: RulesetConfig, boxes: readonly BoxRuleEntry[]): string {
  const { hostVethPattern, bridgeTable: table } = config.names;
  const all = boxes.map(boxSetElements);
  // This kernel has no `meta ibrname`, so box ports are matched by name: every
  // host veth is "<prefix>-<hash>" and no other prefix can produce that pattern.
  const ports = q(hostVethPattern);
  return [
    `table bridge ${table} {`,
    `  set port_macs { type ifname . ether_addr;${elements(all.flatMap((b) => b.portMacs))} }`,
    `  set port_addrs { type ifname . ipv4_addr;${elements(all.flatMap((b) => b.portAddrs))} }`,
    "  chain prerouting {",
    "    type filter hook prerouting priority filter; policy accept;",
    `    iifname != ${ports} accept`,
    // A port without elements (attach still in flight, or detached) sends nothing.
    "    iifname . ether saddr != @port_macs drop",
    "    ether type != { ip, arp } drop",
    "    ether type ip iifname . ip saddr != @port_addrs drop",
    "    ether type arp iifname . arp saddr ether != @port_macs drop",
    "    ether type arp iifname . arp saddr ip != @port_addrs drop",
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    `    iifname ${ports} drop`,
    "  }",
    "  chain output {",
    "    type filter hook output priority filter; policy accept;",
    `    oifname != ${ports} accept`,
    "    ether daddr ff:ff:ff:ff:ff:ff accept",
    // Unicast the bridge floods (unknown destination) goes only to its owner.
    "    oifname . ether daddr != @port_macs drop",
    "  }",
    "}",
  ].join("\n");
}

/**
 * The complete policy, replacing both tables in one nft transaction: the
 * `add table` lines make the `delete table` lines valid on a fresh node, and
 * the kernel applies the whole script or nothing, so running boxes never see
 * a moment without rules.
 */
export function fullRuleset(config: RulesetConfig, boxes: readonly BoxRuleEntry[]): string {
  const { inetTable: inet, bridgeTable: l2 } = config.names;
  return [
    `add table inet ${inet}`,
    `delete table inet ${inet}`,
    `add table bridge ${l2}`,
    `delete table bridge ${l2}`,
    inetTable(config, boxes),
    bridgeTable(config, boxes),
    "",
  ].join("\n");
}

/** Removes both tables; valid whether or not they exist. */
export function deleteRuleset(names: NodeNames): string {
  return [
    `add table inet ${names.inetTable}`,
    `delete table inet ${names.inetTable}`,
    `add table bridge ${names.bridgeTable}`,
    `delete table bridge ${names.bridgeTable}`,
    "",
  ].join("\n");
}

/** Which of the two tables a script may touch. */
export interface TableSelection {
  inet: boolean;
  bridge: boolean;
}

const BOTH: TableSelection = { inet: true, bridge: true };

function elementLines(
  names: NodeNames,
  box: BoxRuleEntry,
  verb: "add" | "delete",
  tables: TableSelection = BOTH,
): string[] {
  const e = boxSetElements(box);
  const lines: string[] = [];
  const push = (family: "inet" | "bridge", table: string, set: string, items: string[]) => {
    if (items.length > 0 && tables[family])
      lines.push(`${verb} element ${family} ${table} ${set} { ${items.join(", ")} }`);
  };
  push("bridge", names.bridgeTable, "port_macs", e.portMacs);
  push("bridge", names.bridgeTable, "port_addrs", e.portAddrs);
  push("inet", names.inetTable, "egress_all", e.egressAll);
  push("inet", names.inetTable, "egress_allow", e.egressAllow);
  return lines;
}

/** Adds one box's elements; `add element` of an existing element is a no-op, so this is idempotent. */
export function addBoxElements(names: NodeNames, box: BoxRuleEntry): string {
  return [...elementLines(names, box, "add"), ""].join("\n");
}

/**
 * Removes one box's elements. nft 1.0.6 has no `destroy element`, and
 * `delete element` fails on a missing one, so each delete is preceded by an
 * add in the same transaction: idempotent, and still atomic.
 */
export function removeBoxElements(
  names: NodeNames,
  box: BoxRuleEntry,
  tables: TableSelection = BOTH,
): string {
  const lines = [...elementLines(names, box, "add", tables), ...elementLines(names, box, "delete", tables)];
  return lines.length === 0 ? "" : [...lines, ""].join("\n");
}

/** Replaces the allowed gateway ports without touching anything else. */
export function setHostPorts(names: NodeNames, ports: readonly number[]): string {
  const lines = [`flush set inet ${names.inetTable} host_ports`];
  if (ports.length > 0) lines.push(`add element inet ${names.inetTable} host_ports { ${ports.join(", ")} }`);
  return [...lines, ""].join("\n");
}
