import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../testing/test-api.ts";

let api: TestApi;
const dir = mkdtempSync(join(tmpdir(), "boxyard-keys-api-"));
let n = 0;
function pubkey(): string {
  const path = join(dir, `k${++n}`);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path, "-C", `laptop-${n}`]);
  return readFileSync(`${path}.pub`, "utf8");
}

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ssh keys API", () => {
  it("registers, lists and deletes a key, never sharing one key between users", async () => {
    const alice = await api.createUser("alice");
    const bob = await api.createUser("bob");
    const key = pubkey();
    const added = await api.call("POST", "/api/v1/users/me/ssh-keys", {
      token: alice,
      body: { name: "laptop", publicKey: key },
    });
    expect(added.status).toBe(201);
    expect(added.body.fingerprint).toMatch(/^SHA256:/);
    expect(added.body.publicKey).toBe(key.trim().split(" ").slice(0, 2).join(" "));

    const stolen = await api.call("POST", "/api/v1/users/me/ssh-keys", {
      token: bob,
      body: { name: "mine", publicKey: key },
    });
    expect(stolen.status).toBe(409);
    expect(stolen.body.code).toBe("ssh_key_exists");

    const list = await api.call("GET", "/api/v1/users/me/ssh-keys", { token: alice });
    expect(list.body.items).toHaveLength(1);
    expect((await api.call("GET", "/api/v1/users/me/ssh-keys", { token: bob })).body.items).toHaveLength(0);

    // Bob cannot delete Alice's key; it looks like it does not exist.
    const bobDelete = await api.call("DELETE", `/api/v1/users/me/ssh-keys/${added.body.id}`, { token: bob });
    expect(bobDelete.status).toBe(404);
    expect(
      (await api.call("DELETE", `/api/v1/users/me/ssh-keys/${added.body.id}`, { token: alice })).status,
    ).toBe(204);
    expect((await api.call("GET", "/api/v1/users/me/ssh-keys", { token: alice })).body.items).toHaveLength(0);
  });

  it("rejects private keys and junk with a clear reason", async () => {
    const priv = readFileSync(join(dir, "k1"), "utf8");
    for (const publicKey of [priv, "ssh-ed25519 AAAAnotbase64!!", "hello world this is not a key"]) {
      const r = await api.call("POST", "/api/v1/users/me/ssh-keys", { body: { name: "bad", publicKey } });
      expect(r.status).toBe(400);
      expect(["ssh_key_invalid", "validation_failed"]).toContain(r.body.code);
    }
  });
});
