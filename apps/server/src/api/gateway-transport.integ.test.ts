// The gateway transport: what a gateway in its own process asks the control
// plane (registration, login lookups, wake on connect, session audit events),
// through the same HttpGatewayControl the gateway role uses.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TicketSigner } from "@boxyard/auth";
import { GATEWAY_TOKEN_HEADER } from "@boxyard/contract";
import { ControlPlaneError, HttpGatewayControl, TERMINAL_TICKET_AUDIENCE } from "@boxyard/gateway";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let alice: string;
let mallory: string;
let aliceFingerprint: string;
let aliceId: string;
let malloryId: string;
let boxId: string;
const dir = mkdtempSync(join(tmpdir(), "boxyard-gwt-"));
const base = "/api/v1/orgs/acme/boxes";

const info = () => ({
  name: "gw-one",
  httpUrl: "http://127.0.0.1:7999",
  sshHost: "127.0.0.1",
  sshPort: 2299,
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
});

function gatewayControl(token = api.adminToken) {
  return new HttpGatewayControl({ baseUrl: api.url, registrationToken: token, info });
}

async function settled(state: string) {
  return waitFor(
    async () => {
      const b = (await api.call("GET", `${base}/dev`, { token: alice })).body;
      return b.actualState === state && b.observedGeneration === b.generation ? b : null;
    },
    { timeoutMs: 15_000, message: `dev to be ${state}` },
  );
}

beforeAll(async () => {
  api = await startBoxTestApi();
  alice = await api.createUser("alice");
  mallory = await api.createUser("mallory");
  aliceId = (await api.call("GET", "/api/v1/users/me", { token: alice })).body.id;
  malloryId = (await api.call("GET", "/api/v1/users/me", { token: mallory })).body.id;
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k"), "-C", "alice"]);
  const key = await api.call("POST", "/api/v1/users/me/ssh-keys", {
    token: alice,
    body: { name: "laptop", publicKey: readFileSync(join(dir, "k.pub"), "utf8") },
  });
  aliceFingerprint = key.body.fingerprint;
  await api.call("POST", "/api/v1/orgs", { token: alice, body: { name: "acme" } });
  boxId = (await api.call("POST", base, { token: alice, body: { name: "dev", template: "busybox" } })).body
    .box.id;
  await settled("running");
});
afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("gateway transport", () => {
  it("registers only with a site admin's token", async () => {
    const refused = await gatewayControl(alice)
      .register()
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ControlPlaneError);
    expect((refused as ControlPlaneError).status).toBe(403);
  });

  it("hands the gateway the key that verifies the control plane's terminal tickets", async () => {
    const reg = await gatewayControl().register();
    expect(reg.gatewayId).toMatch(/^gw_/);
    expect(reg.allowedOrigins).toEqual([new URL(api.url).origin]);
    const t = await api.call("POST", `${base}/dev/terminal-ticket`, { token: alice });
    expect(t.status).toBe(201);
    const claims = TicketSigner.fromBase64(reg.ticketKey).verify(t.body.ticket, TERMINAL_TICKET_AUDIENCE);
    expect(claims).toMatchObject({ userId: aliceId, boxId });
    // All-in-one: this server serves terminals itself, so no separate WebSocket URL.
    expect(t.body.websocketUrl).toBeNull();
  });

  it("answers login lookups: a key's user, and only boxes that user may connect to", async () => {
    const gw = gatewayControl();
    expect(await gw.userForKey(aliceFingerprint)).toMatchObject({ userId: aliceId, username: "alice" });
    expect(await gw.userForKey(`SHA256:${"B".repeat(43)}`)).toBeNull();
    expect(await gw.boxForUser(aliceId, { box: "dev" })).toMatchObject({
      boxId,
      orgName: "acme",
      actualState: "running",
    });
    expect(await gw.boxForUser(malloryId, { box: "dev" })).toBeNull();
    expect(await gw.boxForUser(malloryId, { box: "dev", org: "acme" })).toBeNull();
  });

  it("wakes a paused box for its owner, never for someone else", async () => {
    expect((await api.call("POST", `${base}/dev/pause`, { token: alice })).status).toBe(202);
    await settled("paused");
    const gw = gatewayControl();
    const denied = await gw.requestWake(malloryId, boxId).catch((e: unknown) => e);
    expect((denied as ControlPlaneError).status).toBe(404);
    expect((await api.call("GET", `${base}/dev`, { token: alice })).body.desiredState).toBe("paused");

    const route = await gw.requestWake(aliceId, boxId);
    expect(route.desiredState).toBe("running");
    await settled("running");
    const audit = await api.call("GET", "/api/v1/orgs/acme/audit?action=box.resume", { token: alice });
    expect(audit.body.items[0]).toMatchObject({
      actor: { kind: "system", name: "gateway" },
      details: { reason: "wake on connect", userId: aliceId },
    });
  });

  it("boots a stopped box only where the template says so, and says what to do otherwise", async () => {
    const gw = gatewayControl();
    expect((await api.call("POST", `${base}/dev/stop`, { token: alice })).status).toBe(202);
    await settled("stopped");
    await gw.requestWake(aliceId, boxId);
    await settled("running");

    await api.call("POST", base, { token: alice, body: { name: "big", template: "debian" } });
    const big = await waitFor(async () => {
      const b = (await api.call("GET", `${base}/big`, { token: alice })).body;
      return b.actualState === "running" ? b : null;
    });
    await api.call("POST", `${base}/big/stop`, { token: alice });
    await waitFor(
      async () => (await api.call("GET", `${base}/big`, { token: alice })).body.actualState === "stopped",
    );
    const refused = await gw.requestWake(aliceId, big.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ControlPlaneError);
    expect((refused as ControlPlaneError).status).toBe(409);
    expect((refused as ControlPlaneError).message).toContain("boxyard start big");
    expect((await api.call("GET", `${base}/big`, { token: alice })).body.desiredState).toBe("stopped");
  });

  it("records session events in the box's org audit log, attributed to the user", async () => {
    const gw = gatewayControl();
    const at = new Date().toISOString();
    expect(
      await gw.sendEvents([
        {
          action: "box.session.open",
          at,
          userId: aliceId,
          username: "alice",
          orgId: (await api.call("GET", "/api/v1/orgs/acme", { token: alice })).body.id,
          boxId,
          boxName: "dev",
          details: { kind: "shell", remoteAddress: "127.0.0.1" },
        },
      ]),
    ).toBe(1);
    const audit = await api.call("GET", "/api/v1/orgs/acme/audit?action=box.session.open", { token: alice });
    expect(audit.body.items[0]).toMatchObject({
      actor: { kind: "user", id: aliceId },
      target: { kind: "box", id: boxId },
      details: { kind: "shell" },
    });
  });

  it("refuses a wrong or superseded gateway token with 401 (C1)", async () => {
    const first = await gatewayControl().register();
    const again = await gatewayControl().register();
    expect(again.gatewayId).toBe(first.gatewayId);
    const call = (token: string) =>
      fetch(`${api.url}/api/v1/gateway/gateways/${first.gatewayId}/lookup-key`, {
        method: "POST",
        headers: { "content-type": "application/json", [GATEWAY_TOKEN_HEADER]: token },
        body: JSON.stringify({ fingerprint: aliceFingerprint }),
      });
    expect((await call(first.gatewayToken)).status).toBe(401);
    expect((await call(`${again.gatewayToken}x`)).status).toBe(401);
    expect((await call(again.gatewayToken)).status).toBe(200);
  });
});
