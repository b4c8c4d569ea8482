import { describe, expect, it } from "vitest";
import { type HostResolver, parseAllowEntry, resolveEgress } from "./egress.ts";

const noDns: HostResolver = async (name) => {
  throw new Error(`unexpected lookup of ${name}`);
};

describe("egress policy resolution", () => {
  it("passes deny-all and allow-all through", async () => {
    expect(await resolveEgress("deny-all", noDns)).toEqual({ kind: "deny-all" });
    expect(await resolveEgress("allow-all", noDns)).toEqual({ kind: "allow-all" });
  });

  it("uses numeric entries as they are, without DNS", async () => {
    expect(await resolveEgress({ allow: ["203.0.113.9:443", "203.0.113.9:443"] }, noDns)).toEqual({
      kind: "allow-list",
      destinations: [{ ip: "203.0.113.9", port: 443 }],
    });
  });

  it("resolves host names through the resolver, keeping IPv4 answers only", async () => {
    const resolver: HostResolver = async (name) =>
      name === "deb.debian.org" ? ["151.101.2.132", "2a04:4e42::644", "151.101.66.132"] : [];
    expect(await resolveEgress({ allow: ["deb.debian.org:443"] }, resolver)).toEqual({
      kind: "allow-list",
      destinations: [
        { ip: "151.101.2.132", port: 443 },
        { ip: "151.101.66.132", port: 443 },
      ],
    });
    await expect(resolveEgress({ allow: ["nothing.test:80"] }, resolver)).rejects.toMatchObject({
      code: "network_invalid_egress",
    });
  });

  it("refuses malformed entries with a typed error", () => {
    for (const bad of [
      "1.2.3.4",
      "1.2.3.4:0",
      "1.2.3.4:65536",
      "[::1]:443",
      "010.0.0.1:80",
      "a b:80",
      ":80",
      "x:y",
    ]) {
      expect(() => parseAllowEntry(bad), bad).toThrowError(
        expect.objectContaining({ code: "network_invalid_egress" }),
      );
    }
  });
});
