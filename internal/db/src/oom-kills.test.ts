import { describe, expect, it } from "vitest";
import { newOomKills } from "./oom-kills.ts";

const kill = (at: string, pid: number) => ({ at, pid, command: "awk", uid: 1000, rssMiB: 70 });
const a = kill("2026-11-29T02:03:55Z", 10);
const b = kill("2026-11-29T02:03:55Z", 11);
const c = kill("2026-11-29T02:04:10Z", 12);

describe("newOomKills", () => {
  it("takes every kill when none was recorded", () => {
    expect(newOomKills(null, [a, b])).toEqual([a, b]);
  });
  it("takes the kills after the recorded one, also within the same second", () => {
    expect(newOomKills(a, [a, b, c])).toEqual([b, c]);
    expect(newOomKills(c, [a, b, c])).toEqual([]);
  });
  it("when the recorded kill fell out of the node's list, takes only later seconds", () => {
    expect(newOomKills(kill("2026-11-29T02:03:55Z", 9), [b, c])).toEqual([c]);
    expect(newOomKills(kill("2026-11-29T03:00:00Z", 9), [a, b, c])).toEqual([]);
  });
});
