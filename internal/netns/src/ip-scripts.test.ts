import { describe, expect, it } from "vitest";
import { hostAttachScript, hostDetachScript, netnsScript } from "./ip-scripts.ts";

const spec = { netnsName: "byt1-abc", hostVeth: "byt1-abcdef", mac: "02:b7:0a:d6:01:02", bridge: "byt1br0" };

describe("ip batch scripts", () => {
  it("creates only what is missing and re-applies the rest", () => {
    const fresh = hostAttachScript(spec, { netns: false, hostVeth: false });
    expect(fresh).toContain("netns add byt1-abc\n");
    expect(fresh).toContain(
      "link add byt1-abcdef type veth peer name eth0 netns byt1-abc address 02:b7:0a:d6:01:02\n",
    );
    const again = hostAttachScript(spec, { netns: true, hostVeth: true });
    expect(again).not.toMatch(/netns add|link add/);
    expect(again).toContain("link set byt1-abcdef master byt1br0\n");
    expect(again).toContain("isolated on");
  });

  it("configures the inside with exactly one address and a default route", () => {
    const script = netnsScript({ mac: spec.mac, addressCidr: "10.214.1.2/24", gateway: "10.214.1.1" });
    const lines = script.trim().split("\n");
    expect(lines.indexOf("addr flush dev eth0")).toBeLessThan(
      lines.indexOf("addr add 10.214.1.2/24 dev eth0"),
    );
    expect(lines.at(-1)).toBe("route replace default via 10.214.1.1 dev eth0");
  });

  it("removes only what exists", () => {
    expect(hostDetachScript(spec, { netns: true, hostVeth: true })).toBe(
      "link del byt1-abcdef\nnetns del byt1-abc\n",
    );
    expect(hostDetachScript(spec, { netns: false, hostVeth: false })).toBe("");
  });
});
