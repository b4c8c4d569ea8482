import { describe, expect, it } from "vitest";
import { replaceManagedBlock } from "./ssh.ts";

describe("config-ssh's managed block", () => {
  it("appends to a config without one, keeping what is there", () => {
    const out = replaceManagedBlock("Host work\n  User me\n", "Host boxyard.a\n");
    expect(out.startsWith("Host work\n  User me\n\n# --- BEGIN BOXYARD")).toBe(true);
    expect(out).toContain("Host boxyard.a\n# --- END BOXYARD ---\n");
  });

  it("replaces only its own block on the next run", () => {
    const first = replaceManagedBlock("Host work\n", "Host boxyard.a\n");
    const withTail = `${first}Host later\n  User x\n`;
    const second = replaceManagedBlock(withTail, "Host boxyard.b\n");
    expect(second).not.toContain("boxyard.a");
    expect(second).toContain("Host boxyard.b\n");
    expect(second).toContain("Host work\n");
    expect(second).toContain("Host later\n  User x\n");
    expect(second.match(/BEGIN BOXYARD/g)).toHaveLength(1);
  });

  it("writes a fresh file", () => {
    expect(replaceManagedBlock("", "Host boxyard.a\n")).toMatch(
      /^# --- BEGIN BOXYARD.*\nHost boxyard.a\n# --- END BOXYARD ---\n$/s,
    );
  });
});
