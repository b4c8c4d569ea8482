// Server settings read from flags and the environment: values checked before
// anything starts, with a message that says what to write instead.
import { describe, expect, it } from "vitest";
import { resolveServerConfig } from "./config.ts";

describe("BOXYARD_COLD_PAUSE_MEMORY_LOW", () => {
  it("defaults to 10% and takes a percentage or MiB", () => {
    expect(resolveServerConfig({}, {}).coldPauseMemoryLow).toBe("10%");
    expect(resolveServerConfig({}, { BOXYARD_COLD_PAUSE_MEMORY_LOW: "2048" }).coldPauseMemoryLow).toBe(
      "2048",
    );
    expect(resolveServerConfig({}, { BOXYARD_COLD_PAUSE_MEMORY_LOW: "0" }).coldPauseMemoryLow).toBe("0");
  });
  it("refuses anything else, saying what it takes", () => {
    expect(() => resolveServerConfig({}, { BOXYARD_COLD_PAUSE_MEMORY_LOW: "2GiB" })).toThrow(
      /percentage of the node's memory \(10%\) or a size in MiB/,
    );
    expect(() => resolveServerConfig({}, { BOXYARD_COLD_PAUSE_MEMORY_LOW: "95%" })).toThrow(/at most 90%/);
  });
});

describe("BOXYARD_BOOT_CPU", () => {
  it("defaults to 2 CPUs and takes 0 (off) or a number of CPUs", () => {
    expect(resolveServerConfig({}, {}).bootCpu).toBe(2);
    expect(resolveServerConfig({}, { BOXYARD_BOOT_CPU: "0" }).bootCpu).toBe(0);
    expect(resolveServerConfig({}, { BOXYARD_BOOT_CPU: "1.5" }).bootCpu).toBe(1.5);
  });
  it("refuses a negative or non-numeric value", () => {
    expect(() => resolveServerConfig({}, { BOXYARD_BOOT_CPU: "-1" })).toThrow(
      /0 \(off\) or a number of CPUs/,
    );
    expect(() => resolveServerConfig({}, { BOXYARD_BOOT_CPU: "lots" })).toThrow(/bootCpu|BOOT_CPU|number/i);
  });
});

describe("BOXYARD_BOOT_CPU_GRACE", () => {
  it("defaults to 5 seconds and takes 0 (off) or a number of seconds", () => {
    expect(resolveServerConfig({}, {}).bootCpuGraceSeconds).toBe(5);
    expect(resolveServerConfig({}, { BOXYARD_BOOT_CPU_GRACE: "0" }).bootCpuGraceSeconds).toBe(0);
    expect(resolveServerConfig({}, { BOXYARD_BOOT_CPU_GRACE: "0.5" }).bootCpuGraceSeconds).toBe(0.5);
  });
  it("refuses a negative or non-numeric value", () => {
    expect(() => resolveServerConfig({}, { BOXYARD_BOOT_CPU_GRACE: "-2" })).toThrow(
      /0 \(off\) or a number of seconds/,
    );
    expect(() => resolveServerConfig({}, { BOXYARD_BOOT_CPU_GRACE: "soon" })).toThrow(
      /bootCpuGrace|BOOT_CPU_GRACE|number/i,
    );
  });
});
