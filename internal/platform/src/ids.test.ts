import { describe, expect, it } from "vitest";
import { ID_PATTERN, newId } from "./ids.ts";

describe("ids", () => {
  it("are prefixed, path-safe and distinct", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = newId("box");
      expect(id).toMatch(ID_PATTERN);
      expect(id.startsWith("box_")).toBe(true);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
  });
});
