import { describe, expect, it } from "vitest";
import { requestHash } from "./idempotency.ts";

describe("requestHash", () => {
  it("ignores key order and undefined members, but not values, method or path", () => {
    const a = requestHash("POST", "/x", { name: "a", template: "busybox", resources: { cpu: 1, gpus: 0 } });
    expect(
      requestHash("POST", "/x", {
        resources: { gpus: 0, cpu: 1 },
        template: "busybox",
        name: "a",
        team: undefined,
      }),
    ).toBe(a);
    expect(
      requestHash("POST", "/x", { name: "b", template: "busybox", resources: { cpu: 1, gpus: 0 } }),
    ).not.toBe(a);
    expect(
      requestHash("DELETE", "/x", { name: "a", template: "busybox", resources: { cpu: 1, gpus: 0 } }),
    ).not.toBe(a);
    expect(
      requestHash("POST", "/y", { name: "a", template: "busybox", resources: { cpu: 1, gpus: 0 } }),
    ).not.toBe(a);
  });
});
