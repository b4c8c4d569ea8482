import { describe, expect, it } from "vitest";
import { KeyedLock } from "./keyed-lock.ts";

describe("KeyedLock", () => {
  it("runs calls for one key one at a time, in order", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = lock.run("a", async () => {
      log.push("a1 start");
      await gate;
      log.push("a1 end");
    });
    const second = lock.run("a", async () => {
      log.push("a2");
    });
    const other = lock.run("b", async () => {
      log.push("b");
    });
    await other;
    expect(log).toEqual(["a1 start", "b"]);
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(["a1 start", "b", "a1 end", "a2"]);
  });

  it("releases the key when a call throws", async () => {
    const lock = new KeyedLock();
    await expect(lock.run("k", async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(await lock.run("k", async () => 5)).toBe(5);
  });
});
