import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseLogin } from "./login.ts";
import { normalizePublicKey } from "./ssh-keys.ts";

describe("ssh login names", () => {
  it("accepts BOX.ORG and BOX", () => {
    expect(parseLogin("dev.acme")).toEqual({ box: "dev", org: "acme" });
    expect(parseLogin("dev")).toEqual({ box: "dev" });
  });
  it("refuses anything else before any lookup (C5)", () => {
    for (const bad of [
      "",
      ".",
      "..",
      "a.b.c",
      "../x",
      "Dev",
      "dev.",
      "-x",
      "x-",
      "a b",
      "dev.acme\n",
      "a".repeat(64),
    ]) {
      expect(parseLogin(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});

describe("ssh public keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "boxyard-keys-"));
  let n = 0;
  const gen = (type: string, bits?: number) => {
    const path = join(dir, `${type}-${bits ?? 0}-${++n}`);
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      type,
      ...(bits ? ["-b", String(bits)] : []),
      "-N",
      "",
      "-f",
      path,
      "-C",
      "me@laptop",
    ]);
    return path;
  };

  it("normalises a key and fingerprints it like ssh-keygen", () => {
    const path = gen("ed25519");
    const k = normalizePublicKey(readFileSync(`${path}.pub`, "utf8"));
    const expected = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${path}.pub`], {
      encoding: "utf8",
    });
    expect(expected).toContain(k.fingerprint);
    expect(k.comment).toBe("me@laptop");
    expect(k.publicKey.split(" ")).toHaveLength(2);
  });

  it("refuses private keys, weak RSA and junk", () => {
    const path = gen("ed25519");
    expect(() => normalizePublicKey(readFileSync(path, "utf8"))).toThrow(/private key/);
    const weak = gen("rsa", 1024);
    expect(() => normalizePublicKey(readFileSync(`${weak}.pub`, "utf8"))).toThrow(/2048/);
    expect(() => normalizePublicKey("ssh-ed25519 AAAA")).toThrow();
    expect(() => normalizePublicKey("ssh-dss AAAAB3NzaC1kc3M")).toThrow(/not accepted/);
    rmSync(dir, { recursive: true, force: true });
  });
});
