import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TicketSigner } from "./tickets.ts";

describe("signed tickets", () => {
  const signer = new TicketSigner(randomBytes(32));
  const claims = { aud: "terminal", userId: "usr_a", boxId: "box_1", orgId: "org_1", exp: 2_000 };

  it("round-trips while valid", () => {
    expect(signer.verify(signer.sign(claims), "terminal", 1_000_000)).toEqual(claims);
  });

  it("rejects expiry, another audience, tampering and another key", () => {
    const t = signer.sign(claims);
    expect(signer.verify(t, "terminal", 2_000_000)).toBeNull();
    expect(signer.verify(t, "preview", 1_000_000)).toBeNull();
    const [body, mac] = t.split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, boxId: "box_2" })).toString("base64url");
    expect(signer.verify(`${forged}.${mac}`, "terminal", 1_000_000)).toBeNull();
    expect(signer.verify(`${body}.${mac}x`, "terminal", 1_000_000)).toBeNull();
    expect(new TicketSigner(randomBytes(32)).verify(t, "terminal", 1_000_000)).toBeNull();
    expect(signer.verify("garbage", "terminal", 1_000_000)).toBeNull();
  });
});
