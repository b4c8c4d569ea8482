import { describe, expect, it } from "vitest";
import { untilBox } from "./box-wait.ts";

/** A listener whose notifications the test sends. */
function fakeListener() {
  const waiting = new Set<{ match: (p: string) => boolean; wake: () => void }>();
  return {
    waitFor(_channel: string, match: (p: string) => boolean, ms: number, signal?: AbortSignal) {
      return new Promise<void>((resolve) => {
        const w = {
          match,
          wake: () => {
            waiting.delete(w);
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(w.wake, ms);
        signal?.addEventListener("abort", w.wake, { once: true });
        waiting.add(w);
      });
    },
    notify(payload: string) {
      for (const w of [...waiting]) if (w.match(payload)) w.wake();
    },
  };
}

describe("untilBox", () => {
  it("answers from the caller's read without reading again", async () => {
    let reads = 0;
    const v = await untilBox({
      boxId: "b1",
      first: { state: "running" },
      read: async () => {
        reads++;
        return null;
      },
      decide: (b) => (b?.state === "running" ? "ok" : undefined),
      ms: 1_000,
      late: () => new Error("late"),
    });
    expect(v).toBe("ok");
    expect(reads).toBe(0);
  });

  it("is woken by its box's notification, not another's, well before the next look", async () => {
    const listener = fakeListener();
    let state = "starting";
    let reads = 0;
    const t0 = Date.now();
    const done = untilBox({
      listener,
      boxId: "b1",
      read: async () => {
        reads++;
        return { state };
      },
      decide: (b) => (b?.state === "running" ? Date.now() - t0 : undefined),
      ms: 10_000,
      late: () => new Error("late"),
    });
    await new Promise((r) => setTimeout(r, 50));
    state = "running";
    listener.notify("b2");
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(1);
    listener.notify("b1");
    expect(await done).toBeLessThan(900);
    expect(reads).toBe(2);
  });

  it("looks again each second without a notification (a lost NOTIFY)", async () => {
    let reads = 0;
    const v = await untilBox({
      listener: fakeListener(),
      boxId: "b1",
      read: async () => ({ n: ++reads }),
      decide: (b) => (b && b.n >= 2 ? b.n : undefined),
      ms: 5_000,
      late: () => new Error("late"),
    });
    expect(v).toBe(2);
  });

  it("gives up with the caller's errors: refused, late, aborted", async () => {
    const base = {
      listener: fakeListener(),
      boxId: "b1",
      read: async () => ({ state: "starting" }),
      late: () => new Error("late"),
    };
    await expect(
      untilBox({
        ...base,
        ms: 5_000,
        decide: () => {
          throw new Error("refused");
        },
      }),
    ).rejects.toThrow("refused");
    const t0 = Date.now();
    await expect(untilBox({ ...base, ms: 300, decide: () => undefined })).rejects.toThrow("late");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    await expect(
      untilBox({
        ...base,
        ms: 5_000,
        decide: () => undefined,
        signal: abort.signal,
        aborted: () => new Error("aborted"),
      }),
    ).rejects.toThrow("aborted");
  });
});
