import { describe, expect, it } from "vitest";
import { errorCatalogue } from "./catalogue.ts";
import { DomainError } from "./domain-error.ts";
import { toProblem } from "./problem.ts";

describe("problem documents", () => {
  it("carries the stable code, status and extensions of a domain error", () => {
    const err = new DomainError("quota_exceeded", { detail: "5 of 5 boxes used", extensions: { limit: 5 } });
    const p = toProblem(err, { instance: "/api/v1/orgs/a/boxes", requestId: "r1" });
    expect(p).toMatchObject({
      status: 429,
      code: "quota_exceeded",
      title: errorCatalogue.quota_exceeded.title,
      detail: "5 of 5 boxes used",
      limit: 5,
      instance: "/api/v1/orgs/a/boxes",
      requestId: "r1",
      type: "https://boxyard.dev/problems/quota-exceeded",
    });
  });

  it("never leaks the message of an unexpected error", () => {
    const p = toProblem(new Error("password=hunter2 at db.ts:12"));
    expect(p.status).toBe(500);
    expect(p.code).toBe("internal_error");
    expect(JSON.stringify(p)).not.toContain("hunter2");
  });

  it("does not let extensions override the standard members", () => {
    const err = new DomainError("box_not_found", { extensions: { status: 200, code: "ok" } });
    expect(toProblem(err)).toMatchObject({ status: 404, code: "box_not_found" });
  });

  it("has a 4xx or 5xx status for every catalogue entry", () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(code).toMatch(/^[a-z][a-z_]*[a-z]$/);
    }
  });
});
