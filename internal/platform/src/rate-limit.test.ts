import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

describe("rate limiter", () => {
  it("allows a burst, then refills at the rate, per key", () => {
    let now = 0;
    const rl = new RateLimiter({ perSecond: 2, burst: 3, now: () => now });
    expect([rl.take("a"), rl.take("a"), rl.take("a")].every((r) => r.ok)).toBe(true);
    const refused = rl.take("a");
    expect(refused).toEqual({ ok: false, retryAfterS: 1 });
    expect(rl.take("b").ok).toBe(true);
    now += 500;
    expect(rl.take("a").ok).toBe(true);
    expect(rl.take("a").ok).toBe(false);
    now += 10_000;
    expect([rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")].map((r) => r.ok)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});
