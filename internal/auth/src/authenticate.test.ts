import type { Queryable } from "@boxyard/db";
import { ManualClock } from "@boxyard/platform";
import { describe, expect, it } from "vitest";
import { authenticateBearer } from "./authenticate.ts";
import { mintToken } from "./tokens.ts";

/** A database that answers the token lookup with one row and records every statement. */
function tokenDb(lastUsedAt: Date | null, expiresAt: Date) {
  const minted = mintToken();
  const statements: string[] = [];
  const db = {
    async query(text: string) {
      statements.push(text.replace(/\s+/g, " ").trim());
      if (/FROM api_tokens t JOIN users u/.test(text))
        return {
          rows: [
            {
              id: minted.id,
              user_id: "usr_a",
              name: "t",
              secret_hash: minted.secretHash,
              created_at: new Date(0),
              expires_at: expiresAt,
              last_used_at: lastUsedAt,
              revoked_at: null,
              u: { id: "usr_a", username: "alice", created_at: new Date(0).toISOString() },
            },
          ],
          rowCount: 1,
        };
      return { rows: [], rowCount: 1 };
    },
  } as unknown as Queryable;
  return { db, statements, header: `Bearer ${minted.token}` };
}

describe("authenticateBearer records a token's use", () => {
  const clock = new ManualClock(new Date("2026-11-30T12:00:00Z"));
  const later = new Date("2027-01-01T00:00:00Z");
  const touches = (s: string[]) => s.filter((q) => q.startsWith("UPDATE api_tokens SET last_used_at")).length;

  it("on first use and once the recorded use is a minute old", async () => {
    for (const last of [null, new Date(clock.now().getTime() - 60_000), new Date(0)]) {
      const { db, statements, header } = tokenDb(last, later);
      const actor = await authenticateBearer(db, header, clock);
      expect(actor.user.id).toBe("usr_a");
      expect(touches(statements), String(last)).toBe(1);
    }
  });

  it("sends no update while the recorded use is under a minute old (every request would write)", async () => {
    const { db, statements, header } = tokenDb(new Date(clock.now().getTime() - 59_000), later);
    expect((await authenticateBearer(db, header, clock)).tokenId).toMatch(/^tok_/);
    expect(touches(statements)).toBe(0);
    expect(statements).toHaveLength(1);
  });

  it("still refuses an expired token without recording anything", async () => {
    const { db, statements, header } = tokenDb(null, new Date(clock.now().getTime() - 1));
    await expect(authenticateBearer(db, header, clock)).rejects.toMatchObject({ code: "unauthorized" });
    expect(touches(statements)).toBe(0);
  });
});
