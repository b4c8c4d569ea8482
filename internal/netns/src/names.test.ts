import { describe, expect, it } from "vitest";
import { boxNames, MAX_IFNAME_LENGTH, macForAddress, nodeNames, validateBoxId } from "./names.ts";

describe("box names", () => {
  it("derives every name from a hash of the id, never the raw id", () => {
    const n = boxNames("by", "box_123");
    expect(n.netnsName).toMatch(/^by-[0-9a-f]{10}$/);
    expect(n.hostVeth).toMatch(/^by-[0-9a-f]{12}$/);
    expect(n.netnsPath).toBe(`/var/run/netns/${n.netnsName}`);
    expect(JSON.stringify(n)).not.toContain("box_123");
  });

  it("is deterministic and differs between ids", () => {
    expect(boxNames("by", "a")).toEqual(boxNames("by", "a"));
    expect(boxNames("by", "a").hostVeth).not.toBe(boxNames("by", "b").hostVeth);
  });

  it("keeps interface names within 15 characters for every allowed prefix length", () => {
    for (const prefix of ["b", "by", "byt1", "abcdef"]) {
      const { hostVeth } = boxNames(prefix, "x".repeat(32));
      expect(hostVeth.length).toBeLessThanOrEqual(MAX_IFNAME_LENGTH);
      expect(hostVeth.length - prefix.length - 1).toBeGreaterThanOrEqual(8);
      expect(nodeNames(prefix).bridge.length).toBeLessThanOrEqual(MAX_IFNAME_LENGTH);
    }
  });

  it("matches a veth only with its own prefix's wildcard", () => {
    const veth = boxNames("byt1", "a").hostVeth;
    const matches = (pattern: string) => veth.startsWith(pattern.slice(0, -1));
    expect(matches(nodeNames("byt1").hostVethPattern)).toBe(true);
    expect(matches(nodeNames("byt").hostVethPattern)).toBe(false);
    expect(matches(nodeNames("by").hostVethPattern)).toBe(false);
  });

  it("rejects invalid box ids and prefixes with typed errors", () => {
    for (const bad of ["", "A", "a-b", "a.b", "../x", "x".repeat(33), "a\n"]) {
      expect(() => validateBoxId(bad)).toThrowError(
        expect.objectContaining({ code: "network_invalid_box_id" }),
      );
    }
    expect(() => validateBoxId("x".repeat(32))).not.toThrow();
    for (const bad of ["", "1by", "by-1", "by_1", "abcdefg", "BY"]) {
      expect(() => nodeNames(bad)).toThrowError(expect.objectContaining({ code: "network_invalid_config" }));
    }
  });

  it("builds a locally administered unicast MAC from the address", () => {
    expect(macForAddress(0x0ad50002)).toBe("02:b7:0a:d5:00:02");
  });
});
