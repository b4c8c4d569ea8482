import { describe, expect, it } from "vitest";
import { WaitTimeoutError, waitFor } from "./wait-for.ts";

describe("waitFor", () => {
  it("returns the first truthy value of the condition", async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `done after ${calls}` : false), { intervalMs: 1 });
    expect(value).toBe("done after 3");
  });

  it("treats a throw as not yet", async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        if (calls < 2) throw new Error("not ready");
        return 42;
      },
      { intervalMs: 1 },
    );
    expect(value).toBe(42);
  });

  it("fails with the awaited thing and the last error at the deadline", async () => {
    const wait = waitFor(
      () => {
        throw new Error("connection refused");
      },
      { timeoutMs: 30, intervalMs: 5, message: "the database" },
    );
    await expect(wait).rejects.toThrow(WaitTimeoutError);
    await expect(wait).rejects.toThrow(/the database.*connection refused/);
  });
});
