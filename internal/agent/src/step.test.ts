import type { DesiredPhase, ObservedPhase } from "@boxyard/agent-protocol";
import { describe, expect, it } from "vitest";
import { nextStep } from "./step.ts";

describe("nextStep (desired phase x observed phase)", () => {
  const table: Array<[DesiredPhase, ObservedPhase, string | null]> = [
    ["running", "absent", "prepare"],
    ["running", "prepared", "start"],
    ["running", "stopped", "start"],
    ["running", "running", null],
    ["running", "paused", "resume"],
    ["running", "checkpointed", "resume"],
    ["running", "failed", "stop"],
    ["paused", "absent", "prepare"],
    ["paused", "prepared", "start"],
    ["paused", "running", "pause"],
    ["paused", "paused", null],
    ["paused", "checkpointed", null],
    ["stopped", "absent", null],
    ["stopped", "running", "stop"],
    ["stopped", "paused", "stop"],
    ["stopped", "stopped", null],
    ["absent", "running", "destroy"],
    ["absent", "stopped", "destroy"],
    ["absent", "absent", null],
  ];
  it.each(table)("want %s, have %s -> %s", (want, have, step) => {
    expect(nextStep(want, have)).toBe(step);
  });
});
