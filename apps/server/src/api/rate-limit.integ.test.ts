import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ env: { BOXYARD_RATE_LIMIT: "1/5" } });
});
afterAll(async () => api?.close());

describe("per-token rate limit", () => {
  it("answers 429 with Retry-After once a token's burst is spent, and only for that token", async () => {
    const alice = await api.createUser("alice");
    const bob = await api.createUser("bob");
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<TestApi["call"]>> | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await api.call("GET", "/api/v1/users/me", { token: alice });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toContain(429);
    expect(limited?.body).toMatchObject({ code: "rate_limited" });
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await api.call("GET", "/api/v1/users/me", { token: bob })).status).toBe(200);
  });
});
