import { describe, expect, it } from "vitest";
import { CachedGatewayDirectory } from "./cached-directory.ts";
import type { BoxRoute, GatewayDirectory, GatewayUser } from "./directory.ts";

const alice: GatewayUser = { userId: "usr_a", username: "alice", keyId: "key_a" };
const route: BoxRoute = {
  boxId: "box_1",
  orgId: "org_1",
  boxName: "dev",
  orgName: "acme",
  nodeId: "n1",
  actualState: "running",
  desiredState: "running",
};

function fakeInner() {
  const state = { down: false, known: true, calls: 0 };
  const inner: GatewayDirectory = {
    async userForKey() {
      state.calls++;
      if (state.down) throw new Error("database unavailable");
      return state.known ? alice : null;
    },
    async boxForUser() {
      state.calls++;
      if (state.down) throw new Error("database unavailable");
      return state.known ? route : null;
    },
  };
  return { inner, state };
}

describe("the gateway's cached directory (outage rule)", () => {
  it("serves the last answer while the control plane is down, for a bounded time", async () => {
    let now = 0;
    const { inner, state } = fakeInner();
    const dir = new CachedGatewayDirectory(inner, { freshMs: 1_000, staleIfErrorMs: 60_000, now: () => now });
    expect(await dir.userForKey("fp")).toEqual(alice);
    expect(await dir.boxForUser("usr_a", { box: "dev", org: "acme" })).toEqual(route);
    state.down = true;
    now = 30_000;
    expect(await dir.userForKey("fp")).toEqual(alice);
    expect(await dir.boxForUser("usr_a", { box: "dev", org: "acme" })).toEqual(route);
    now = 61_000;
    await expect(dir.userForKey("fp")).rejects.toThrow("database unavailable");
  });

  it("asks again after the fresh window, and a fresh 'no' wins over a cached 'yes'", async () => {
    let now = 0;
    const { inner, state } = fakeInner();
    const dir = new CachedGatewayDirectory(inner, { freshMs: 1_000, now: () => now });
    await dir.userForKey("fp");
    await dir.userForKey("fp");
    expect(state.calls).toBe(1);
    now = 2_000;
    state.known = false; // key revoked
    expect(await dir.userForKey("fp")).toBeNull();
    state.down = true;
    await expect(dir.userForKey("fp")).rejects.toThrow();
  });

  it("never serves an unknown key from the cache", async () => {
    const { inner, state } = fakeInner();
    state.down = true;
    const dir = new CachedGatewayDirectory(inner);
    await expect(dir.userForKey("fp")).rejects.toThrow();
  });
});
