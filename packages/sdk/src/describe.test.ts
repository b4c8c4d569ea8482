import { describe, expect, it } from "vitest";
import { boxErrorLine, boxIsSettling, boxStateLabel, explainBox } from "./describe.ts";

describe("box explanation shared by `boxyard show` and the dashboard", () => {
  it("labels a box moving towards its desired state", () => {
    expect(boxStateLabel({ actualState: "running", desiredState: "running" })).toBe("running");
    expect(boxStateLabel({ actualState: "starting", desiredState: "running" })).toBe("starting -> running");
    expect(boxIsSettling({ actualState: "pausing", desiredState: "paused" })).toBe(true);
    expect(boxIsSettling({ actualState: "failed", desiredState: "running" })).toBe(false);
  });

  it("says whether a failing box is still retried", () => {
    const at = "2026-01-01T00:00:00Z";
    expect(boxErrorLine({ lastError: null })).toBeNull();
    expect(
      boxErrorLine({ lastError: { code: "x", message: "no node", at, attempts: 3, permanent: false } }),
    ).toBe("no node, retrying (attempt 3)");
    expect(
      boxErrorLine({ lastError: { code: "x", message: "bad image", at, attempts: 5, permanent: true } }),
    ).toBe("bad image, not retrying");
  });

  it("says what survives node loss depending on persistence, and names how to resume", () => {
    const plain = explainBox({ persistent: false });
    expect(plain.persists.join(" ")).toContain("not persistent: if its node is lost, so is its disk");
    expect(plain.persists.join(" ")).toContain("'boxyard resume' continues them");
    const kept = explainBox({ persistent: true }, { resume: "Resume" });
    expect(kept.persists.join(" ")).toContain("marked persistent");
    expect(kept.persists.join(" ")).toContain("Resume continues them");
    expect(kept.autoStop).toEqual(["None configured: the box runs until you stop or pause it."]);
  });
});
