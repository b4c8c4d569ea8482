// Suspending and deleting users (site admin): every way in is cut at once —
// API tokens, browser sessions, SSH logins through the gateway — and a
// deleted user's name and keys are free again.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintSession, SESSION_COOKIE } from "@boxyard/auth";
import { insertSession } from "@boxyard/db";
import { DbGatewayDirectory } from "@boxyard/gateway";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let alice: string;
let aliceId: string;
let bob: string;
let cookie: string;
let publicKey: string;
const dir = mkdtempSync(join(tmpdir(), "boxyard-useradmin-"));

async function sessionFor(userId: string): Promise<string> {
  const s = mintSession();
  await insertSession(api.server.pool, {
    id: s.id,
    userId,
    secretHash: s.secretHash,
    csrfToken: s.csrfToken,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return `${SESSION_COOKIE}=${s.cookie}`;
}

beforeAll(async () => {
  api = await startBoxTestApi();
  alice = await api.createUser("alice");
  bob = await api.createUser("bob");
  aliceId = (await api.call("GET", "/api/v1/users/me", { token: alice })).body.id;
  cookie = await sessionFor(aliceId);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k"), "-C", "alice"]);
  publicKey = readFileSync(join(dir, "k.pub"), "utf8");
  await api.call("POST", "/api/v1/users/me/ssh-keys", { token: alice, body: { name: "laptop", publicKey } });
  await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } });
  await api.call("POST", "/api/v1/orgs/acme/boxes", {
    token: alice,
    body: { name: "dev", template: "busybox" },
  });
  await waitFor(
    async () =>
      (await api.call("GET", "/api/v1/orgs/acme/boxes/dev", { token: alice })).body.actualState === "running",
  );
});
afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("suspending and deleting users", () => {
  it("is for site admins only, and never on yourself", async () => {
    expect((await api.call("POST", "/api/v1/users/alice/suspend", { token: bob })).status).toBe(403);
    const self = await api.call("POST", "/api/v1/users/admin/suspend");
    expect(self.status).toBe(400);
    expect(self.body.detail).toContain("yourself");
    expect((await api.call("POST", "/api/v1/users/nobody/suspend")).status).toBe(404);
    expect((await api.call("GET", "/api/v1/users/me", { token: alice })).status).toBe(200);
  });

  it("suspends: tokens, browser sessions and gateway logins stop working at once", async () => {
    const dirBefore = await new DbGatewayDirectory(api.server.pool).boxForUser(aliceId, { box: "dev" });
    expect(dirBefore?.boxName).toBe("dev");
    expect((await api.call("GET", "/api/v1/users/me", { token: "", headers: { cookie } })).status).toBe(200);

    const res = await api.call("POST", "/api/v1/users/alice/suspend");
    expect(res.status).toBe(200);
    expect(res.body.suspendedAt).toEqual(expect.any(String));

    expect((await api.call("GET", "/api/v1/users/me", { token: alice })).status).toBe(401);
    expect((await api.call("GET", "/api/v1/users/me", { token: "", headers: { cookie } })).status).toBe(401);
    // The gateway's lookups say no: new logins fail, open sessions close on their next check.
    const gw = new DbGatewayDirectory(api.server.pool);
    expect(await gw.boxForUser(aliceId, { box: "dev" })).toBeNull();
    const fingerprint = (await api.server.pool.query("SELECT fingerprint FROM ssh_keys")).rows[0].fingerprint;
    expect(await gw.userForKey(fingerprint)).toBeNull();
    // The box itself is untouched.
    const box = await api.server.pool.query("SELECT desired_state FROM boxes WHERE name = 'dev'");
    expect(box.rows[0].desired_state).toBe("running");
  });

  it("unsuspends without bringing revoked tokens back", async () => {
    const res = await api.call("POST", "/api/v1/users/alice/unsuspend");
    expect(res.status).toBe(200);
    expect(res.body.suspendedAt).toBeNull();
    expect((await api.call("GET", "/api/v1/users/me", { token: alice })).status).toBe(401);
    const fresh = await api.call("POST", "/api/v1/users/alice/tokens", { body: { name: "again" } });
    expect((await api.call("GET", "/api/v1/users/me", { token: fresh.body.token })).status).toBe(200);
    alice = fresh.body.token;
    expect(await new DbGatewayDirectory(api.server.pool).boxForUser(aliceId, { box: "dev" })).not.toBeNull();
  });

  it("deletes: everything is cut, the name and the SSH key are free again, and it is audited", async () => {
    expect((await api.call("DELETE", "/api/v1/users/alice")).status).toBe(204);
    expect((await api.call("GET", "/api/v1/users/me", { token: alice })).status).toBe(401);
    expect(await new DbGatewayDirectory(api.server.pool).boxForUser(aliceId, { box: "dev" })).toBeNull();
    expect((await api.call("POST", "/api/v1/users/alice/suspend")).status).toBe(404);

    const again = await api.call("POST", "/api/v1/users", { body: { username: "alice" } });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(aliceId);
    const added = await api.call("POST", "/api/v1/users/me/ssh-keys", {
      token: bob,
      body: { name: "k", publicKey },
    });
    expect(added.status).toBe(201);

    const { rows } = await api.server.pool.query(
      "SELECT action, details FROM audit_events WHERE target_id = $1 AND result = 'success' ORDER BY id",
      [aliceId],
    );
    expect(rows.map((r) => r.action)).toEqual([
      "user.create",
      "user.suspend",
      "user.unsuspend",
      "user.delete",
    ]);
    expect(rows[1].details).toMatchObject({ revokedTokens: 1, revokedSessions: 1 });
  });
});
