import { describe, expect, it } from "vitest";
import { formatIpv4, parseCidr, parseIpv4 } from "./ipv4.ts";
import { allocateAddress, poolSize } from "./pool.ts";

function cidr(text: string) {
  const c = parseCidr(text);
  if (c === null) throw new Error(text);
  return c;
}

function ips(...texts: string[]): Set<number> {
  return new Set(texts.map((t) => parseIpv4(t) ?? -1));
}

describe("ipv4 parsing", () => {
  it("accepts dotted quads and refuses octal, short and out-of-range spellings", () => {
    expect(parseIpv4("10.213.0.7")).toBe(0x0ad50007);
    for (const bad of ["010.1.1.1", "10.1.1", "256.1.1.1", "1.1.1.1.1", "0x7f.0.0.1", " 1.1.1.1"]) {
      expect(parseIpv4(bad)).toBeNull();
    }
    expect(formatIpv4(0xffffffff)).toBe("255.255.255.255");
  });

  it("accepts only network addresses as CIDRs", () => {
    expect(parseCidr("10.213.0.0/16")).toEqual({ network: 0x0ad50000, prefixLength: 16 });
    expect(parseCidr("10.213.0.1/16")).toBeNull();
    expect(parseCidr("10.213.0.0/33")).toBeNull();
    expect(parseCidr("10.213.0.0")).toBeNull();
  });
});

describe("address pool", () => {
  it("skips network and gateway and hands out the lowest free address", () => {
    const subnet = cidr("10.213.0.0/16");
    expect(formatIpv4(allocateAddress(subnet, new Set()) ?? 0)).toBe("10.213.0.2");
    expect(formatIpv4(allocateAddress(subnet, ips("10.213.0.2", "10.213.0.4")) ?? 0)).toBe("10.213.0.3");
  });

  it("never hands out the broadcast address and reports exhaustion as null", () => {
    const subnet = cidr("10.214.4.0/29");
    expect(poolSize(subnet)).toBe(5);
    const taken = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const a = allocateAddress(subnet, taken);
      expect(a).not.toBeNull();
      taken.add(a ?? 0);
    }
    expect([...taken].map(formatIpv4)).toEqual([
      "10.214.4.2",
      "10.214.4.3",
      "10.214.4.4",
      "10.214.4.5",
      "10.214.4.6",
    ]);
    expect(allocateAddress(subnet, taken)).toBeNull();
  });

  it("reuses a released address before higher ones", () => {
    const subnet = cidr("10.214.4.0/29");
    expect(formatIpv4(allocateAddress(subnet, ips("10.214.4.3", "10.214.4.4")) ?? 0)).toBe("10.214.4.2");
  });

  it("a /30 holds exactly one box", () => {
    expect(poolSize(cidr("10.214.4.0/30"))).toBe(1);
  });
});
