import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SecretKeyring } from "./keyring.ts";
import { loadSecretKeyring, SECRETS_KEY_FILE } from "./master-key.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("SecretKeyring", () => {
  const ring = new SecretKeyring(SecretKeyring.generateKey());

  it("seals each value under its own data key and opens it again", () => {
    const value = Buffer.from("canary-4f1d9c value");
    const a = ring.seal("sec_1", value);
    const b = ring.seal("sec_1", value);
    expect(a.ciphertext.includes(value)).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(ring.open("sec_1", a).toString()).toBe("canary-4f1d9c value");
  });

  it("refuses a ciphertext moved to another secret, tampered, or sealed under another key", () => {
    const s = ring.seal("sec_1", Buffer.from("v"));
    expect(() => ring.open("sec_2", s)).toThrow();
    const bad = Buffer.from(s.ciphertext);
    bad[bad.length - 1]! ^= 1;
    expect(() => ring.open("sec_1", { ...s, ciphertext: bad })).toThrow();
    const other = new SecretKeyring(SecretKeyring.generateKey());
    expect(() => other.open("sec_1", s)).toThrow(/sealed with master key/);
    expect(() => other.open("sec_1", { ...s, keyId: other.keyId })).toThrow();
  });

  it("fingerprints values with a key, not a plain hash", () => {
    const other = new SecretKeyring(SecretKeyring.generateKey());
    expect(ring.fingerprint("x")).toBe(ring.fingerprint("x"));
    expect(ring.fingerprint("x")).not.toBe(other.fingerprint("x"));
  });
});

describe("loadSecretKeyring", () => {
  it("creates a 0600 key file at first start and reads it after", async () => {
    const dir = await mkdtemp(join(tmpdir(), "by-secrets-"));
    dirs.push(dir);
    const first = await loadSecretKeyring({ dataDir: dir, env: {} });
    const path = join(dir, SECRETS_KEY_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await loadSecretKeyring({ dataDir: dir, env: {} });
    expect(again.keyId).toBe(first.keyId);
    expect((await readFile(path, "utf8")).trim()).toHaveLength(44);
  });

  it("takes BOXYARD_SECRETS_KEY over the file, and says what is wrong with a bad one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "by-secrets-"));
    dirs.push(dir);
    const key = SecretKeyring.generateKey();
    const ring = await loadSecretKeyring({ dataDir: dir, env: { BOXYARD_SECRETS_KEY: key.toString("hex") } });
    expect(ring.keyId).toBe(new SecretKeyring(key).keyId);
    await expect(
      loadSecretKeyring({ dataDir: dir, env: { BOXYARD_SECRETS_KEY: "c2hvcnQ=" } }),
    ).rejects.toThrow(/BOXYARD_SECRETS_KEY must hold a 32-byte key/);
  });
});
