import { describe, expect, it } from "vitest";
import {
  ACTUAL_STATES,
  type ActualState,
  type BoxVerb,
  canTransition,
  type DesiredState,
  desiredChange,
} from "./states.ts";

describe("desired-state changes (the verb table)", () => {
  const cases: Array<[BoxVerb, DesiredState, ActualState, string]> = [
    ["start", "running", "running", "noop"],
    ["start", "stopped", "stopped", "change:running"],
    ["start", "paused", "paused", "change:running"],
    ["start", "running", "failed", "change:running"],
    ["stop", "running", "starting", "change:stopped"],
    ["stop", "stopped", "stopped", "noop"],
    ["pause", "stopped", "stopped", "invalid"],
    ["pause", "running", "running", "change:paused"],
    ["pause", "paused", "pausing", "noop"],
    ["resume", "running", "running", "noop"],
    ["resume", "paused", "paused", "change:running"],
    ["resume", "stopped", "stopped", "invalid"],
    ["delete", "running", "running", "change:deleted"],
    ["delete", "paused", "pausing", "change:deleted"],
    ["delete", "running", "failed", "change:deleted"],
    ["delete", "deleted", "deleting", "noop"],
    ["start", "deleted", "deleting", "invalid"],
  ];
  it.each(cases)("%s when desired %s / actual %s -> %s", (verb, desiredState, actualState, want) => {
    const d = desiredChange({ desiredState, actualState }, verb);
    expect(d.kind === "change" ? `change:${d.to}` : d.kind).toBe(want);
  });
});

describe("actual-state transitions", () => {
  it("never leaves deleted, and a placed box never goes back to pending or scheduling", () => {
    for (const to of ACTUAL_STATES) if (to !== "deleted") expect(canTransition("deleted", to)).toBe(false);
    for (const from of ["running", "stopped", "paused", "provisioning"] as const) {
      expect(canTransition(from, "pending")).toBe(false);
      expect(canTransition(from, "scheduling")).toBe(false);
    }
  });

  it("lets deleting end only in deleted (or failed), and failed be retried", () => {
    expect(canTransition("deleting", "running")).toBe(false);
    expect(canTransition("deleting", "deleted")).toBe(true);
    expect(canTransition("failed", "starting")).toBe(true);
    expect(canTransition("failed", "scheduling")).toBe(true);
    expect(canTransition("pending", "provisioning")).toBe(true);
  });
});
