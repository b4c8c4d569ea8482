// B2 against real PostgreSQL with the production authorizer: another org's
// object is 404 (its own not_found code), a visible org without the
// permission is 403, members act only on their own boxes, lists return only
// the org asked for, system actors get only their methods, and no denied
// call changes a row.

import type { Actor } from "@boxyard/auth";
import {
  createPool,
  insertBox,
  insertOrg,
  insertUser,
  migrate,
  migrations,
  upsertOrgMember,
} from "@boxyard/db";
import type { UserRow } from "@boxyard/db";
import type { DomainError } from "@boxyard/errors";
import { createTestDatabase, type TestDatabase } from "@boxyard/testkit";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NoActorError, NotAuthorized } from "./errors.ts";
import { authorizedStore } from "./store.ts";

let db: TestDatabase;
let pool: pg.Pool;
const users: Record<string, UserRow> = {};
const as = (name: string): Actor => ({ kind: "user", user: users[name]! });

const ORG_A = "org_a0000000000000000000";
const ORG_B = "org_b0000000000000000000";

async function snapshot(): Promise<string> {
  const { rows } = await pool.query(
    `SELECT (SELECT json_agg(b ORDER BY id) FROM (SELECT id, desired_state, version, deleted_at FROM boxes) b) AS boxes,
            (SELECT count(*) FROM operations) AS ops, (SELECT count(*) FROM org_members) AS members`,
  );
  return JSON.stringify(rows[0]);
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(NotAuthorized);
  expect((err as DomainError).code).toBe(code);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ url: db.url, max: 4 });
  await migrate(pool, migrations);
  await insertOrg(pool, { id: ORG_A, name: "acme" });
  await insertOrg(pool, { id: ORG_B, name: "globex" });
  for (const [name, org, role] of [
    ["owner", ORG_A, "owner"],
    ["mem", ORG_A, "member"],
    ["mem2", ORG_A, "member"],
    ["viewer", ORG_A, "viewer"],
    ["auditor", ORG_A, "auditor"],
    ["other", ORG_B, "owner"],
  ] as const) {
    users[name] = await insertUser(pool, { id: `usr_${name.padEnd(20, "0")}`, username: name });
    await upsertOrgMember(pool, { orgId: org, userId: users[name]!.id, role });
  }
  users.admin = await insertUser(pool, {
    id: `usr_${"admin".padEnd(20, "0")}`,
    username: "admin",
    siteAdmin: true,
  });
  const box = (id: string, orgId: string, ownerId: string, name: string) =>
    insertBox(pool, {
      id,
      orgId,
      name,
      ownerId,
      template: "busybox",
      templateVersion: 1,
      image: {},
      resources: { cpu: 1, memoryMiB: 256, diskGiB: 1, gpus: 0 },
      persistent: false,
    });
  await box("box_a_mem0000000000000", ORG_A, users.mem!.id, "mine");
  await box("box_b_other00000000000", ORG_B, users.other!.id, "theirs");
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("B2: the authorized store on PostgreSQL", () => {
  it("another org's box is 404 box_not_found, by id and by name; its list is 404 org_not_found", async () => {
    const before = await snapshot();
    const s = authorizedStore(pool, as("owner"));
    await rejects(s.getBoxById("box_b_other00000000000"), "box_not_found");
    await rejects(s.getBoxViewById("box_b_other00000000000"), "box_not_found");
    await rejects(s.getLiveBoxByName(ORG_B, "theirs"), "box_not_found");
    await rejects(s.listBoxesByOrg(ORG_B, { limit: 10 }), "org_not_found");
    await rejects(
      s.setBoxDesiredState({ id: "box_b_other00000000000", version: 1, desiredState: "stopped" }),
      "box_not_found",
    );
    expect(await snapshot()).toBe(before);
  });

  it("lists only the org asked for, filtered in SQL", async () => {
    const rows = await authorizedStore(pool, as("viewer")).listBoxesByOrg(ORG_A, { limit: 10 });
    expect(rows.map((r) => r.name)).toEqual(["mine"]);
    expect(rows.every((r) => r.org_id === ORG_A)).toBe(true);
  });

  it("a visible org without the permission is 403; members change only their own boxes", async () => {
    const before = await snapshot();
    const stop = { id: "box_a_mem0000000000000", version: 1, desiredState: "stopped" };
    await rejects(authorizedStore(pool, as("viewer")).setBoxDesiredState(stop), "forbidden");
    await rejects(authorizedStore(pool, as("auditor")).getBoxById(stop.id), "forbidden");
    await rejects(authorizedStore(pool, as("mem2")).setBoxDesiredState(stop), "forbidden");
    await rejects(
      authorizedStore(pool, as("mem")).upsertOrgMember({
        orgId: ORG_A,
        userId: users.mem2!.id,
        role: "admin",
      }),
      "forbidden",
    );
    expect(await snapshot()).toBe(before);
    // Its owner may; so may a site admin who is no member (acting as an owner).
    const read = await authorizedStore(pool, as("admin")).getBoxById(stop.id);
    expect(read?.org_id).toBe(ORG_A);
    const moved = await authorizedStore(pool, as("mem")).setBoxDesiredState(stop);
    expect(moved?.desired_state).toBe("stopped");
  });

  it("the caller's own records only: another user's tokens are 404, site-admin methods 403", async () => {
    const s = authorizedStore(pool, as("mem"));
    await rejects(s.listTokensByUser(users.mem2!.id), "user_not_found");
    await rejects(s.disableUser(users.mem2!.id, "suspend"), "forbidden");
    expect(await s.listTokensByUser(users.mem!.id)).toEqual([]);
  });

  it("system actors get only their methods; no actor is refused before any SQL", async () => {
    const before = await snapshot();
    await rejects(authorizedStore(pool, { kind: "system", name: "gateway" }).enqueueAllBoxes(), "forbidden");
    await rejects(
      authorizedStore(pool, as("owner")).claimDueBoxes({ holder: "h", leaseMs: 1000, limit: 5 }),
      "forbidden",
    );
    expect(
      await authorizedStore(pool, { kind: "system", name: "reconciler" }).getBoxById(
        "box_b_other00000000000",
      ),
    ).not.toBeNull();
    await expect(authorizedStore(pool, null).getBoxById("box_a_mem0000000000000")).rejects.toBeInstanceOf(
      NoActorError,
    );
    expect(await snapshot()).toBe(before);
  });

  it("a transaction's store keeps the actor; a denial rolls the transaction back", async () => {
    const before = await snapshot();
    const s = authorizedStore(pool, as("mem2"));
    await expect(
      s.transaction(async (tx) => {
        await tx.insertBox({
          id: "box_a_mem2000000000000",
          orgId: ORG_A,
          name: "new",
          ownerId: users.mem2!.id,
          template: "busybox",
          templateVersion: 1,
          image: {},
          resources: { cpu: 1, memoryMiB: 256, diskGiB: 1, gpus: 0 },
          persistent: false,
        });
        await tx.setBoxDesiredState({ id: "box_a_mem0000000000000", version: 2, desiredState: "running" });
      }),
    ).rejects.toBeInstanceOf(NotAuthorized);
    expect(await snapshot()).toBe(before);
  });
});
