import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memAvailableBytes, memTotalBytes, parseMemoryLow, pickForColdPause } from "./memory-pressure.ts";

const MiB = 1024 * 1024;

describe("pickForColdPause()", () => {
  const boxes = [
    { id: "c", pausedSince: 3, bytes: 256 * MiB },
    { id: "a", pausedSince: 1, bytes: 256 * MiB },
    { id: "b", pausedSince: 2, bytes: 512 * MiB },
  ];
  it("picks nothing without a shortfall", () => {
    expect(pickForColdPause(2048 * MiB, 1024 * MiB, boxes)).toEqual([]);
    expect(pickForColdPause(1024 * MiB, 1024 * MiB, boxes)).toEqual([]);
  });
  it("picks the longest-paused first, as few as cover the shortfall", () => {
    expect(pickForColdPause(900 * MiB, 1024 * MiB, boxes).map((b) => b.id)).toEqual(["a"]);
    expect(pickForColdPause(700 * MiB, 1024 * MiB, boxes).map((b) => b.id)).toEqual(["a", "b"]);
  });
  it("picks every box when even all of them do not cover it", () => {
    expect(pickForColdPause(0, 4096 * MiB, boxes).map((b) => b.id)).toEqual(["a", "b", "c"]);
  });
});

describe("parseMemoryLow()", () => {
  it("reads a percentage of the node's memory or MiB; 0 turns it off", () => {
    expect(parseMemoryLow("10%", 1000 * MiB)).toBe(100 * MiB);
    expect(parseMemoryLow("2048", 1000 * MiB)).toBe(2048 * MiB);
    expect(parseMemoryLow("0", 1000 * MiB)).toBeNull();
    expect(parseMemoryLow("0%", 1000 * MiB)).toBeNull();
  });
  it("refuses what it cannot read, with what to write instead", () => {
    expect(() => parseMemoryLow("lots", 1000 * MiB)).toThrow(
      /percentage of the node's memory \(10%\) or MiB/,
    );
    expect(() => parseMemoryLow("95%", 1000 * MiB)).toThrow(/above 90%/);
  });
});

describe("/proc/meminfo", () => {
  it("reads MemAvailable and MemTotal in bytes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meminfo-"));
    try {
      const f = join(dir, "meminfo");
      await writeFile(f, "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   12288000 kB\n");
      expect(await memAvailableBytes(f)).toBe(12288000 * 1024);
      expect(await memTotalBytes(f)).toBe(24576000 * 1024);
      await writeFile(f, "MemTotal: 1 kB\n");
      await expect(memAvailableBytes(f)).rejects.toThrow(/no MemAvailable/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await memAvailableBytes()).toBeGreaterThan(0);
  });
});
