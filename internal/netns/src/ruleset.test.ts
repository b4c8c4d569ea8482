import { describe, expect, it } from "vitest";
import { nodeNames } from "./names.ts";
import {
  addBoxElements,
  type BoxRuleEntry,
  DEFAULT_PRIVATE_RANGES,
  fullRuleset,
  type RulesetConfig,
  removeBoxElements,
  setHostPorts,
} from "./ruleset.ts";

const names = nodeNames("byt1");
const config: RulesetConfig = {
  names,
  subnet: "10.214.1.0/24",
  gateway: "10.214.1.1",
  hostPorts: [2222, 8080],
  uplink: "byt1-up0",
  privateRanges: DEFAULT_PRIVATE_RANGES,
};
const allowAll: BoxRuleEntry = {
  hostVeth: "byt1-aaaaaaaaaa",
  address: "10.214.1.2",
  mac: "02:b7:0a:d6:01:02",
  egress: { kind: "allow-all" },
};
const allowList: BoxRuleEntry = {
  hostVeth: "byt1-bbbbbbbbbb",
  address: "10.214.1.3",
  mac: "02:b7:0a:d6:01:03",
  egress: { kind: "allow-list", destinations: [{ ip: "203.0.113.5", port: 443 }] },
};
const denyAll: BoxRuleEntry = {
  hostVeth: "byt1-cccccccccc",
  address: "10.214.1.4",
  mac: "02:b7:0a:d6:01:04",
  egress: { kind: "deny-all" },
};

function chain(script: string, name: string): string[] {
  const lines = script.split("\n").map((l) => l.trim());
  const start = lines.indexOf(`chain ${name} {`);
  return lines.slice(start + 2, lines.indexOf("}", start));
}

function setLine(script: string, set: string): string {
  return script.split("\n").find((l) => l.trim().startsWith(`set ${set} `)) ?? "";
}

describe("generated nft ruleset", () => {
  const script = fullRuleset(config, [allowAll, allowList, denyAll]);

  it("replaces both tables in one transaction", () => {
    expect(script.split("\n").slice(0, 4)).toEqual([
      "add table inet byt1_boxes",
      "delete table inet byt1_boxes",
      "add table bridge byt1_boxes_l2",
      "delete table bridge byt1_boxes_l2",
    ]);
  });

  it("lets boxes reach only the host ports on the gateway address, and never the metadata range", () => {
    expect(chain(script, "input")).toEqual([
      'iifname != "byt1br0" accept',
      "ip daddr 169.254.0.0/16 drop",
      "ct state established,related accept",
      "ip daddr 10.214.1.1 tcp dport @host_ports accept",
      "meta l4proto tcp reject with tcp reset",
      "meta l4proto udp reject",
      "drop",
    ]);
    expect(setLine(script, "host_ports")).toContain("elements = { 2222, 8080 }");
  });

  it("lets only root's sockets on the host open a box's control port", () => {
    expect(chain(script, "box_control")).toEqual([
      "ip daddr 10.214.1.0/24 tcp dport 1019 meta skuid != 0 reject with tcp reset",
    ]);
    expect(script).toContain(
      "chain box_control {\n    type filter hook output priority filter; policy accept;",
    );
  });

  it("forwards only to the uplink, never to boxes, metadata or the box subnet, and by policy", () => {
    const forward = chain(script, "forward");
    expect(forward).toContain('iifname "byt1br0" oifname "byt1br0" drop');
    expect(forward).toContain('oifname "byt1br0" drop');
    expect(forward).toContain('oifname != "byt1-up0" drop');
    const at = (rule: string) => forward.indexOf(rule);
    // Order matters: the never-set beats an allow-list entry, and an allow-list entry beats the private ranges.
    expect(at("ip daddr @never_dst drop")).toBeLessThan(
      at("meta l4proto { tcp, udp } ip saddr . ip daddr . th dport @egress_allow accept"),
    );
    expect(at("meta l4proto { tcp, udp } ip saddr . ip daddr . th dport @egress_allow accept")).toBeLessThan(
      at("ip daddr @private_dst drop"),
    );
    expect(at("ip daddr @private_dst drop")).toBeLessThan(at("ip saddr @egress_all accept"));
    expect(forward.at(-1)).toBe("drop");
    expect(setLine(script, "never_dst")).toContain("169.254.0.0/16");
    expect(setLine(script, "never_dst")).toContain("10.214.1.0/24");
    expect(chain(script, "postrouting")).toEqual(['oifname "byt1-up0" ip saddr 10.214.1.0/24 masquerade']);
  });

  it("puts each box's policy into the sets and nowhere else", () => {
    expect(setLine(script, "egress_all")).toContain("elements = { 10.214.1.2 }");
    expect(setLine(script, "egress_allow")).toContain("elements = { 10.214.1.3 . 203.0.113.5 . 443 }");
    expect(script).not.toMatch(/egress_\w+ \{[^}]*10\.214\.1\.4/);
    expect(setLine(script, "port_addrs")).toContain('"byt1-cccccccccc" . 10.214.1.4');
    expect(setLine(script, "port_macs")).toContain('"byt1-cccccccccc" . 02:b7:0a:d6:01:04');
  });

  it("pins every port of this prefix to its MAC and address and isolates ports from each other", () => {
    expect(chain(script, "prerouting")).toEqual([
      'iifname != "byt1-*" accept',
      "iifname . ether saddr != @port_macs drop",
      "ether type != { ip, arp } drop",
      "ether type ip iifname . ip saddr != @port_addrs drop",
      "ether type arp iifname . arp saddr ether != @port_macs drop",
      "ether type arp iifname . arp saddr ip != @port_addrs drop",
    ]);
    expect(script).toContain('iifname "byt1-*" drop');
  });

  it("without an uplink forwards nothing and masquerades nothing", () => {
    const closed = fullRuleset({ ...config, uplink: null }, [allowAll]);
    expect(chain(closed, "forward").slice(4)).toEqual(['drop comment "no uplink: no egress"']);
    expect(closed).not.toContain("masquerade");
  });

  it("writes empty sets without an elements clause", () => {
    const empty = fullRuleset({ ...config, hostPorts: [] }, []);
    expect(setLine(empty, "host_ports").trim()).toBe("set host_ports { type inet_service; }");
    expect(setLine(empty, "egress_allow")).not.toContain("elements");
  });
});

describe("per-box element updates", () => {
  it("adds a box's elements to exactly the sets its policy needs", () => {
    expect(addBoxElements(names, allowList).trim().split("\n")).toEqual([
      'add element bridge byt1_boxes_l2 port_macs { "byt1-bbbbbbbbbb" . 02:b7:0a:d6:01:03 }',
      'add element bridge byt1_boxes_l2 port_addrs { "byt1-bbbbbbbbbb" . 10.214.1.3 }',
      "add element inet byt1_boxes egress_allow { 10.214.1.3 . 203.0.113.5 . 443 }",
    ]);
  });

  it("removes idempotently: every delete is preceded by an add in the same transaction", () => {
    const lines = removeBoxElements(names, allowAll).trim().split("\n");
    expect(lines.slice(0, 3).every((l) => l.startsWith("add element"))).toBe(true);
    expect(lines.slice(3).every((l) => l.startsWith("delete element"))).toBe(true);
    expect(lines.slice(3).map((l) => l.replace("delete", "add"))).toEqual(lines.slice(0, 3));
  });

  it("skips tables that no longer exist", () => {
    expect(removeBoxElements(names, denyAll, { inet: false, bridge: false })).toBe("");
    expect(removeBoxElements(names, allowAll, { inet: true, bridge: false })).not.toContain("bridge");
  });

  it("replaces the host port set", () => {
    expect(setHostPorts(names, [22])).toBe(
      "flush set inet byt1_boxes host_ports\nadd element inet byt1_boxes host_ports { 22 }\n",
    );
    expect(setHostPorts(names, [])).toBe("flush set inet byt1_boxes host_ports\n");
  });
});
