// B9: the audit chain detects an edited, deleted, reordered or truncated
// history, even when a superuser edits the table directly.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool, inTx, insertOrg, migrate, migrations } from "@boxyard/db";
import { createTestDatabase, type TestDatabase } from "@boxyard/testkit";
import type pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AnchorFile } from "./anchors.ts";
import { recordAudit } from "./record.ts";
import { verifyChain } from "./verify.ts";

let db: TestDatabase;
let pool: pg.Pool;
let dir: string;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool({ url: db.url, max: 4 });
  await migrate(pool, migrations);
  await insertOrg(pool, { id: "org_00000000000000000001", name: "acme" });
  dir = await mkdtemp(join(tmpdir(), "boxyard-audit-"));
});
afterEach(async () => {
  await pool.end();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const ORG = "org_00000000000000000001";

async function write(n: number) {
  for (let i = 0; i < n; i++) {
    await inTx(pool, (tx) =>
      recordAudit(tx, {
        orgId: ORG,
        actor: { kind: "user", id: "usr_1", name: "alice" },
        action: "box.create",
        target: { kind: "box", id: `box_${i}`, name: `b${i}` },
        result: i % 3 === 2 ? "denied" : "success",
        requestId: `req-${i}`,
        sourceIp: "127.0.0.1",
        details: { template: "busybox", resources: { cpu: 1, memoryMiB: 256 } },
        at: new Date(Date.UTC(2026, 10, 28, 12, 0, i)),
      }),
    );
  }
}

async function asSuperuser(sql: string) {
  await pool.query("ALTER TABLE audit_events DISABLE TRIGGER USER");
  try {
    await pool.query(sql);
  } finally {
    await pool.query("ALTER TABLE audit_events ENABLE TRIGGER USER");
  }
}

describe("audit hash chain (B9)", () => {
  it("verifies an untouched chain", async () => {
    await write(5);
    expect(await verifyChain(pool, ORG)).toEqual({ ok: true, checked: 5 });
  });

  it("keeps the order and count under concurrent appends", async () => {
    await Promise.all(Array.from({ length: 3 }, () => write(4)));
    expect(await verifyChain(pool, ORG)).toEqual({ ok: true, checked: 12 });
  });

  it("refuses UPDATE, DELETE and TRUNCATE through the normal path", async () => {
    await write(1);
    await expect(pool.query("UPDATE audit_events SET result = 'success'")).rejects.toThrow(/append-only/);
    await expect(pool.query("DELETE FROM audit_events")).rejects.toThrow(/append-only/);
    await expect(pool.query("TRUNCATE audit_events")).rejects.toThrow(/append-only/);
  });

  it("finds an edited row", async () => {
    await write(5);
    await asSuperuser("UPDATE audit_events SET result = 'success' WHERE seq = 3");
    const r = await verifyChain(pool, ORG);
    expect(r).toMatchObject({ ok: false, problem: "edited", checked: 2 });
    const { rows } = await pool.query("SELECT id FROM audit_events WHERE seq = 3");
    expect(r.firstBadEventId).toBe(Number(rows[0].id));
  });

  it("finds a deleted row", async () => {
    await write(5);
    await asSuperuser("DELETE FROM audit_events WHERE seq = 2");
    expect(await verifyChain(pool, ORG)).toMatchObject({ ok: false, problem: "missing", checked: 1 });
  });

  it("finds two rows swapped", async () => {
    await write(5);
    // Through a free number: the (chain, seq) key is checked row by row.
    await asSuperuser(
      "UPDATE audit_events SET seq = -2 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = -2",
    );
    expect(await verifyChain(pool, ORG)).toMatchObject({ ok: false, checked: 1 });
  });

  it("finds a truncated tail against the exported anchor", async () => {
    await write(5);
    const anchors = new AnchorFile(join(dir, "anchors.jsonl"));
    await anchors.exportHeads(pool, new Date());
    await asSuperuser("DELETE FROM audit_events WHERE seq >= 4");
    // Without the anchor the shorter chain looks fine; with it, the cut shows.
    expect(await verifyChain(pool, ORG)).toMatchObject({ ok: true, checked: 3 });
    expect(await verifyChain(pool, ORG, await anchors.latest(ORG))).toMatchObject({
      ok: false,
      problem: "truncated",
    });
  });
});
