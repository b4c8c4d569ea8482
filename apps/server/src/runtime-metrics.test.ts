import { FakeRuntime } from "@boxyard/runtime";
import { Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { instrumentRuntime } from "./runtime-metrics.ts";

describe("instrumentRuntime", () => {
  it("lists the node's boxes once per scrape for all the per-box gauges", async () => {
    const runtime = new FakeRuntime();
    const list = vi.spyOn(runtime, "list");
    const registry = new Registry();
    instrumentRuntime(runtime, registry);
    await registry.metrics();
    expect(list).toHaveBeenCalledTimes(1);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 1_500);
      await registry.metrics();
      expect(list).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
