// Secrets (issue 7): set, list and delete per org/team/user scope; values
// never come back from the API and exist in the database only as
// ciphertext; a box whose template lists a secret gets its value as a file
// while it runs (the owner's over the team's over the org's), loses it
// before a checkpoint and gets it again after the restore; a value set,
// rotated or deleted reaches the running box without a restart (its node's
// desired set moves with the box's secrets revision). B10-style sweep:
// no API response and no database row holds a value in plain text.
import { randomBytes } from "node:crypto";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, GatedRuntime, startBoxTestApi } from "./box-test-api.ts";

const ORG = "vault";
const base = `/api/v1/orgs/${ORG}`;
const canary = (label: string) => `canary-${label}-${randomBytes(12).toString("hex")}`;
const ORG_VALUE = canary("org");
const TEAM_VALUE = canary("team");
const USER_VALUE = canary("user");
const NEW_VALUE = canary("updated");
const ROTATED_VALUE = canary("rotated");
const CANARIES = [ORG_VALUE, TEAM_VALUE, USER_VALUE, NEW_VALUE, ROTATED_VALUE];

let api: BoxTestApi;
/** Its restores can be held, to send an exec while one is under way. */
const runtime = new GatedRuntime();
const tokens: Record<string, string> = {};
/** Every response body the test saw, for the sweep at the end. */
const responses: string[] = [];

async function call(
  who: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await api.call(method, path, { token: tokens[who]!, ...opts });
  responses.push(JSON.stringify(res.body ?? null), JSON.stringify(Object.fromEntries(res.headers)));
  return res;
}

async function settled(who: string, name: string, state: string) {
  return waitFor(
    async () => {
      const b = (await call(who, "GET", `${base}/boxes/${name}`)).body;
      return b.actualState === state && b.observedGeneration === b.generation ? b : null;
    },
    { timeoutMs: 15_000, message: `${name} to be ${state}` },
  );
}

function secretFile(boxId: string, name: string): string | undefined {
  return api.runtime.state.boxes.get(boxId)?.files.get(`/run/boxyard/secrets/${name}`);
}

beforeAll(async () => {
  api = await startBoxTestApi({ runtime });
  for (const u of ["olive", "mia", "vera"]) tokens[u] = await api.createUser(u);
  await call("olive", "POST", "/api/v1/orgs", { body: { name: ORG } });
  await call("olive", "PUT", `${base}/members/mia`, { body: { role: "member" } });
  await call("olive", "PUT", `${base}/members/vera`, { body: { role: "viewer" } });
  await call("olive", "POST", `${base}/teams`, { body: { name: "core" } });
  await call("olive", "PUT", `${base}/teams/core/members/mia`, { body: {} });
});
afterAll(async () => api?.close());

describe("secrets API", () => {
  it("sets org, team and user secrets, never answering with a value", async () => {
    const org = await call("olive", "POST", `${base}/secrets`, {
      body: { name: "API_TOKEN", value: ORG_VALUE },
    });
    expect(org.status, JSON.stringify(org.body)).toBe(200);
    expect(org.body).toMatchObject({ name: "API_TOKEN", scope: "org" });
    expect(Object.keys(org.body).sort()).toEqual(["createdAt", "name", "scope", "updatedAt"]);
    const team = await call("olive", "POST", `${base}/secrets`, {
      body: { name: "API_TOKEN", value: TEAM_VALUE, scope: "team:core" },
    });
    expect(team.body.scope).toBe("team:core");
    const mine = await call("mia", "POST", `${base}/secrets`, {
      body: { name: "API_TOKEN", value: USER_VALUE, scope: "user" },
    });
    expect(mine.status).toBe(200);
    expect(mine.body.scope).toBe("user:mia");
  });

  it("lets members keep their own secrets but not set the org's; viewers see none", async () => {
    const denied = await call("mia", "POST", `${base}/secrets`, { body: { name: "X", value: "nope" } });
    expect(denied.status).toBe(403);
    expect(
      (await call("mia", "POST", `${base}/secrets`, { body: { name: "X", value: "v", scope: "team:core" } }))
        .status,
    ).toBe(403);
    expect((await call("vera", "GET", `${base}/secrets`)).status).toBe(403);
    expect(
      (await call("vera", "POST", `${base}/secrets`, { body: { name: "X", value: "v", scope: "user" } }))
        .status,
    ).toBe(403);
    expect(
      (
        await call("olive", "POST", `${base}/secrets`, {
          body: { name: "X", value: "v", scope: "team:nope" },
        })
      ).status,
    ).toBe(404);
    const bad = await call("olive", "POST", `${base}/secrets`, { body: { name: "bad-name", value: "v" } });
    expect(bad.status).toBe(400);
  });

  it("lists names and scopes: a member sees the org's, the team's and only their own", async () => {
    const asMember = (await call("mia", "GET", `${base}/secrets`)).body.items;
    expect(asMember.map((s: { scope: string }) => s.scope)).toEqual(["org", "team:core", "user:mia"]);
    await call("olive", "POST", `${base}/secrets`, {
      body: { name: "OLIVES", value: canary("o"), scope: "user" },
    });
    expect((await call("mia", "GET", `${base}/secrets`)).body.items).toHaveLength(3);
    // Owners see every member's own secrets listed (names only).
    const asOwner = (await call("olive", "GET", `${base}/secrets`)).body.items;
    expect(asOwner.map((s: { name: string; scope: string }) => `${s.name} ${s.scope}`)).toEqual([
      "API_TOKEN org",
      "API_TOKEN team:core",
      "API_TOKEN user:mia",
      "OLIVES user:olive",
    ]);
    for (const s of asOwner)
      expect(Object.keys(s).sort()).toEqual(["createdAt", "name", "scope", "updatedAt"]);
  });

  it("stores values only as ciphertext: no table holds one in plain text", async () => {
    const { rows } = await api.server.pool.query(
      "SELECT name, scope, ciphertext, wrapped_key, key_id FROM secrets ORDER BY name, scope",
    );
    expect(rows.length).toBe(4);
    for (const r of rows) {
      for (const v of CANARIES) {
        expect((r.ciphertext as Buffer).includes(Buffer.from(v))).toBe(false);
        expect((r.wrapped_key as Buffer).includes(Buffer.from(v))).toBe(false);
      }
      expect(r.key_id).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(await tablesHolding(CANARIES)).toEqual([]);
  });

  it("honours Idempotency-Key without keeping the value or a plain hash of it", async () => {
    const key = { "idempotency-key": "set-once" };
    const first = await call("olive", "POST", `${base}/secrets`, {
      body: { name: "ONCE", value: NEW_VALUE },
      headers: key,
    });
    const again = await call("olive", "POST", `${base}/secrets`, {
      body: { name: "ONCE", value: NEW_VALUE },
      headers: key,
    });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotency-replayed")).toBe("true");
    expect(again.body.updatedAt).toBe(first.body.updatedAt);
    const other = await call("olive", "POST", `${base}/secrets`, {
      body: { name: "ONCE", value: `${NEW_VALUE}-other` },
      headers: key,
    });
    expect(other.status).toBe(422);
    const { rows } = await api.server.pool.query("SELECT request_hash FROM idempotency_keys");
    const { createHash } = await import("node:crypto");
    for (const r of rows)
      expect(r.request_hash).not.toContain(createHash("sha256").update(NEW_VALUE).digest("hex"));
    expect(await tablesHolding([NEW_VALUE])).toEqual([]);
  });

  it("audits changes with names and scopes only, and deletes by scope", async () => {
    expect((await call("olive", "DELETE", `${base}/secrets/ONCE`)).status).toBe(204);
    expect((await call("olive", "DELETE", `${base}/secrets/ONCE`)).status).toBe(404);
    expect((await call("mia", "DELETE", `${base}/secrets/OLIVES?scope=user`)).status).toBe(404);
    const audit = (await call("olive", "GET", `${base}/audit?action=secret.create`)).body.items;
    expect(audit.length).toBeGreaterThanOrEqual(4);
    const deleted = (await call("olive", "GET", `${base}/audit?action=secret.delete`)).body.items;
    expect(deleted[0]).toMatchObject({ target: { kind: "secret", name: "ONCE" }, details: { scope: "org" } });
  });
});

describe("secrets in boxes", () => {
  it("refuses templates that name secrets badly, and credentials in a repository URL", async () => {
    const dup = await call("olive", "POST", `${base}/templates`, {
      body: { name: "dup", spec: { image: { base: "busybox" }, secrets: ["A", "A"] } },
    });
    expect(dup.status).toBe(400);
    const creds = await call("olive", "POST", `${base}/templates`, {
      body: {
        name: "creds",
        spec: { image: { base: "busybox" }, repo: { url: "https://u:p@example.test/r.git" } },
      },
    });
    expect(creds.status).toBe(400);
    expect(creds.body.detail).toMatch(/spec\.repo\.url: must not contain a user name or password/);
    const ftp = await call("olive", "POST", `${base}/templates`, {
      body: { name: "ftp", spec: { image: { base: "busybox" }, repo: { url: "file:///etc" } } },
    });
    expect(ftp.body.detail).toMatch(/spec\.repo\.url: must be an http/);
  });

  it("delivers the owner's value over the team's over the org's, while the box runs", async () => {
    const tpl = await call("olive", "POST", `${base}/templates`, {
      body: { name: "with-secret", spec: { image: { base: "busybox" }, secrets: ["API_TOKEN", "NOT_SET"] } },
    });
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
    await call("mia", "POST", `${base}/boxes`, { body: { name: "mine", template: "with-secret" } });
    await call("mia", "POST", `${base}/boxes`, {
      body: { name: "teams", template: "with-secret", team: "core" },
    });
    await call("olive", "POST", `${base}/boxes`, { body: { name: "orgs", template: "with-secret" } });
    const mine = await settled("mia", "mine", "running");
    const teams = await settled("mia", "teams", "running");
    const orgs = await settled("olive", "orgs", "running");
    expect(mine.secrets).toEqual(["API_TOKEN", "NOT_SET"]);
    await waitFor(async () => secretFile(mine.id, "API_TOKEN") !== undefined, { timeoutMs: 10_000 });
    await waitFor(async () => secretFile(orgs.id, "API_TOKEN") !== undefined, { timeoutMs: 10_000 });
    expect(secretFile(mine.id, "API_TOKEN")).toBe(USER_VALUE);
    expect(secretFile(orgs.id, "API_TOKEN")).toBe(ORG_VALUE);
    // mia's own secret wins in her team box too; the team's goes to a team box of someone without one.
    expect(secretFile(teams.id, "API_TOKEN")).toBe(USER_VALUE);
    expect(secretFile(mine.id, "NOT_SET")).toBeUndefined();
    // The box runs without it, and says so.
    const noted = await waitFor(
      async () => {
        const b = (await call("mia", "GET", `${base}/boxes/mine`)).body;
        return b.notice ? b : null;
      },
      { timeoutMs: 10_000, message: "the box's notice about the missing secret" },
    );
    expect(noted.notice).toMatch(/^secrets not set: NOT_SET \(set them with 'boxyard secrets set NAME'/);
    expect(noted.actualState).toBe("running");
  });

  /** olive's box "orgs", paused cold: checkpointed, its secrets' files gone. */
  async function coldPausedOrgs() {
    const box = (await call("olive", "GET", `${base}/boxes/orgs`)).body;
    expect((await call("olive", "POST", `${base}/boxes/orgs/pause`, { body: { mode: "cold" } })).status).toBe(
      202,
    );
    await settled("olive", "orgs", "paused");
    await waitFor(async () => (await api.runtime.inspect(box.id))?.phase === "checkpointed", {
      timeoutMs: 10_000,
    });
    expect(secretFile(box.id, "API_TOKEN")).toBeUndefined();
    return box;
  }

  it("removes the files before a checkpoint and writes them again after the restore", async () => {
    const box = await coldPausedOrgs();
    // A new value set meanwhile is what the box gets on resume.
    await call("olive", "POST", `${base}/secrets`, { body: { name: "API_TOKEN", value: NEW_VALUE } });
    await call("olive", "POST", `${base}/boxes/orgs/resume`);
    await settled("olive", "orgs", "running");
    await waitFor(async () => secretFile(box.id, "API_TOKEN") === NEW_VALUE, { timeoutMs: 10_000 });
  });

  it("runs an exec sent with the resume (waitSeconds) with the box's secrets in it", async () => {
    await coldPausedOrgs();
    const exec = () =>
      api.call("POST", `${base}/boxes/orgs/exec`, {
        token: tokens.olive!,
        body: { command: ["sh", "-c", 'echo "$API_TOKEN"'], waitSeconds: 30 },
      });
    let waiting: ReturnType<typeof exec> | undefined;
    runtime.hold();
    try {
      expect((await call("olive", "POST", `${base}/boxes/orgs/resume`)).status).toBe(202);
      await waitFor(
        async () => (await call("olive", "GET", `${base}/boxes/orgs`)).body.actualState === "resuming",
      );
      // Sent while the restore is under way: it runs after the secrets are written (right after the
      // restore), not between the two. Its output is the box's own command printing the value its
      // owner asked for, so it stays out of the sweep of what the API says on its own.
      waiting = exec();
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      runtime.release();
    }
    const r = await waiting!;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.stdout).toBe(`${NEW_VALUE}\n`);
    await settled("olive", "orgs", "running");
  });

  it("gives a running box a rotated value, and takes a deleted one away, without a restart", async () => {
    const box = (await call("olive", "GET", `${base}/boxes/orgs`)).body;
    const sandbox = api.runtime.state.boxes.get(box.id)?.sandboxPid;
    expect(sandbox).toBeDefined();
    // The change wakes the box's node at once (its desired set moves), not at its next poll.
    const desiredVersion = async () =>
      Number(
        (
          await api.server.pool.query<{ v: string }>(
            "SELECT n.desired_version AS v FROM nodes n JOIN boxes b ON b.node_id = n.id WHERE b.id = $1",
            [box.id],
          )
        ).rows[0]?.v,
      );
    const v0 = await desiredVersion();
    await call("olive", "POST", `${base}/secrets`, { body: { name: "API_TOKEN", value: ROTATED_VALUE } });
    const v1 = await desiredVersion();
    expect(v1).toBeGreaterThan(v0);
    await waitFor(async () => secretFile(box.id, "API_TOKEN") === ROTATED_VALUE, {
      timeoutMs: 10_000,
      message: "the rotated value in the running box",
    });
    // mia's boxes keep her own value: her secret did not change.
    const mine = (await call("mia", "GET", `${base}/boxes/mine`)).body;
    expect(secretFile(mine.id, "API_TOKEN")).toBe(USER_VALUE);
    expect((await call("olive", "DELETE", `${base}/secrets/API_TOKEN?scope=org`)).status).toBe(204);
    expect(await desiredVersion()).toBeGreaterThan(v1);
    await waitFor(async () => secretFile(box.id, "API_TOKEN") === undefined, {
      timeoutMs: 10_000,
      message: "the deleted secret gone from the running box",
    });
    await waitFor(
      async () =>
        /secrets not set: API_TOKEN, NOT_SET|secrets not set: NOT_SET, API_TOKEN/.test(
          (await call("olive", "GET", `${base}/boxes/orgs`)).body.notice ?? "",
        ),
      { timeoutMs: 10_000, message: "the notice naming the deleted secret" },
    );
    // The same sandbox all along.
    expect(api.runtime.state.boxes.get(box.id)?.sandboxPid).toBe(sandbox);
    expect(api.runtime.state.boxes.get(box.id)?.phase).toBe("running");
  });

  it("answered no request with a value (B10 sweep of every response of this file)", async () => {
    const hits = responses.filter((r) => CANARIES.some((c) => r.includes(c)));
    expect(hits).toEqual([]);
    expect(await tablesHolding(CANARIES)).toEqual([]);
  });
});

/** Tables with a row whose text form contains one of the values. */
async function tablesHolding(values: readonly string[]): Promise<string[]> {
  const { rows: tables } = await api.server.pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const hits: string[] = [];
  for (const { table_name } of tables) {
    const { rows } = await api.server.pool.query<{ t: string }>(`SELECT t::text AS t FROM "${table_name}" t`);
    // bytea columns print as hex: look for that form too.
    const forms = values.flatMap((v) => [v, Buffer.from(v).toString("hex")]);
    for (const r of rows) if (forms.some((v) => r.t.includes(v))) hits.push(table_name);
  }
  return [...new Set(hits)];
}
