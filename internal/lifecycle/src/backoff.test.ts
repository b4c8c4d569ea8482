import { describe, expect, it } from "vitest";
import { backoffMs } from "./backoff.ts";

describe("backoffMs", () => {
  it("grows exponentially, is capped, and jitters within bounds", () => {
    const o = { baseMs: 100, capMs: 1_000, jitter: 0.5 };
    expect(backoffMs(1, { ...o, random: () => 1 })).toBe(100);
    expect(backoffMs(3, { ...o, random: () => 1 })).toBe(400);
    expect(backoffMs(20, { ...o, random: () => 1 })).toBe(1_000);
    expect(backoffMs(20, { ...o, random: () => 0 })).toBe(500);
  });
});
