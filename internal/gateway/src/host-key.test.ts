import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("gateway host key", () => {
  it("is always a pair ssh2 can parse, and the same one after a restart", async () => {
    // ssh2's generator makes an unparsable ed25519 pair about 1 time in 256: try many.
    for (let i = 0; i < 300; i++) {
      const dir = await mkdtemp(join(tmpdir(), "boxyard-hostkey-"));
      dirs.push(dir);
      const k = await loadOrCreateHostKey(dir);
      expect(ssh2.utils.parseKey(k.privateKey)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(k.publicKey)).not.toBeInstanceOf(Error);
      if (i === 0) expect(await loadOrCreateHostKey(dir)).toEqual(k);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("replaces a malformed key on disk instead of serving it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "boxyard-hostkey-"));
    dirs.push(dir);
    await writeFile(
      join(dir, "ssh_host_ed25519_key"),
      "-----BEGIN OPENSSH PRIVATE KEY-----\nbroken\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    await writeFile(join(dir, "ssh_host_ed25519_key.pub"), "ssh-ed25519 AAAA broken\n");
    const k = await loadOrCreateHostKey(dir);
    expect(ssh2.utils.parseKey(k.privateKey)).not.toBeInstanceOf(Error);
  });
});
