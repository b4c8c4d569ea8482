import { describe, expect, it } from "vitest";
import { historyLine } from "./history.ts";

const at = "2026-01-01T00:00:00Z";

describe("box history in plain words", () => {
  it("says a state change with its reason, a failure as bad", () => {
    expect(
      historyLine({
        kind: "state",
        id: "s1",
        at,
        from: "running",
        to: "stopping",
        generation: 2,
        reason: "stop requested",
      }),
    ).toEqual({ who: "platform", what: "running -> stopping: stop requested", bad: false });
    expect(
      historyLine({
        kind: "state",
        id: "s2",
        at,
        from: "starting",
        to: "failed",
        generation: 1,
        reason: "no image",
      }).bad,
    ).toBe(true);
    expect(
      historyLine({ kind: "state", id: "s3", at, from: null, to: "pending", generation: 1, reason: "" }).what,
    ).toBe("pending");
  });

  it("says which process the box's OOM guard killed, as bad", () => {
    expect(
      historyLine({
        kind: "oom_kill",
        id: "s9",
        at,
        state: "running",
        reason: "out of memory: killed pid 12 (python3)",
      }),
    ).toEqual({ who: "platform", what: "out of memory: killed pid 12 (python3)", bad: true });
  });

  it("says who did what, with the result when it was not a success", () => {
    const action = (a: string, details = {}, result: "success" | "denied" | "failed" = "success") =>
      historyLine({
        kind: "action",
        id: "a1",
        at,
        action: a,
        actor: { kind: "user", name: "olive" },
        result,
        details,
      });
    expect(action("box.create", { template: "busybox", templateVersion: 1 })).toEqual({
      who: "olive",
      what: "created the box from busybox v1",
      bad: false,
    });
    expect(action("box.pause", { mode: "cold" }).what).toBe("asked it to pause (cold, to disk)");
    expect(action("box.port.share", { port: 8080, visibility: "public" }).what).toBe(
      "shared port 8080 with anyone with the link",
    );
    expect(action("box.port.share", { port: 8080, visibility: "private" }).what).toBe(
      "made port 8080 private",
    );
    expect(action("box.start", { noop: true }).what).toBe("asked it to start (it already was)");
    expect(action("box.exec", { program: "ls" }, "failed")).toEqual({
      who: "olive",
      what: "ran ls: failed",
      bad: true,
    });
    expect(action("box.something.new").what).toBe("box.something.new");
    expect(action("box.session.open", { kind: "shell" }).what).toBe("opened a shell over SSH");
    expect(action("box.session.open", { kind: "sftp" }).what).toBe("opened an SFTP session over SSH");
    expect(action("box.session.close", { kind: "exec", exitCode: 0 }).what).toBe(
      "closed an exec session over SSH (exit 0)",
    );
    expect(
      historyLine({
        kind: "action",
        id: "a2",
        at,
        action: "box.resume",
        actor: { kind: "system", name: "gateway" },
        result: "success",
        details: { reason: "wake on connect" },
      }).what,
    ).toBe("asked it to resume (wake on connect)");
  });
});
