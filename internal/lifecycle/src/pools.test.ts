// The warm pool's cap: it keeps no more boxes than the org's quota could still admit.
import { NO_LIMITS } from "@boxyard/db";
import { describe, expect, it } from "vitest";
import { quotaHeadroom } from "./pools.ts";

const busybox = { cpu: 1, memoryMiB: 256, diskGiB: 1, gpus: 0 };
const none = { boxes: 0, runningBoxes: 0, cpu: 0, memoryMiB: 0, diskGiB: 0, gpus: 0 };

describe("quotaHeadroom", () => {
  it.each([
    ["no limits", NO_LIMITS, none, Number.POSITIVE_INFINITY],
    ["max boxes", { ...NO_LIMITS, maxBoxes: 5 }, { ...none, boxes: 3 }, 2],
    ["running boxes", { ...NO_LIMITS, maxRunningBoxes: 4 }, { ...none, runningBoxes: 4 }, 0],
    ["cpu, fractional", { ...NO_LIMITS, cpu: 3.5 }, { ...none, cpu: 1 }, 2],
    ["memory", { ...NO_LIMITS, memoryMiB: 1024 }, { ...none, memoryMiB: 256 }, 3],
    ["disk", { ...NO_LIMITS, diskGiB: 2 }, { ...none, diskGiB: 2 }, 0],
    ["the tightest wins", { ...NO_LIMITS, maxBoxes: 10, memoryMiB: 512 }, none, 2],
    ["over quota already is 0, not negative", { ...NO_LIMITS, maxBoxes: 1 }, { ...none, boxes: 3 }, 0],
    ["GPUs do not limit a box without GPUs", { ...NO_LIMITS, gpus: 0 }, none, Number.POSITIVE_INFINITY],
  ])("%s", (_name, limits, usage, want) => {
    expect(quotaHeadroom(limits, usage, busybox)).toBe(want);
  });
});
