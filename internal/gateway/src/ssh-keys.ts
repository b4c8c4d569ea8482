import { createHash } from "node:crypto";
import ssh2 from "ssh2";

const ALLOWED_TYPES = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);
const MIN_RSA_BITS = 2048;

export interface NormalizedKey {
  /** `type base64`, without the comment. */
  publicKey: string;
  type: string;
  /** OpenSSH-style `SHA256:...` fingerprint of the key blob. */
  fingerprint: string;
  comment: string;
}

export class SshKeyError extends Error {
  readonly code = "ssh_key_invalid";
}

/** Fingerprint of a raw public-key blob, as `ssh-keygen -l` prints it. */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Parses an authorized_keys-style line; refuses private keys, weak RSA and unknown types. */
export function normalizePublicKey(line: string): NormalizedKey {
  const trimmed = line.trim();
  if (trimmed.includes("PRIVATE KEY")) throw new SshKeyError("this is a private key; send the .pub file");
  const parts = trimmed.split(/\s+/);
  if (parts.length < 2 || !parts[0] || !parts[1]) throw new SshKeyError("expected 'TYPE BASE64 [comment]'");
  const [type, b64] = parts as [string, string];
  if (!ALLOWED_TYPES.has(type)) throw new SshKeyError(`key type ${type} is not accepted`);
  const parsed = ssh2.utils.parseKey(`${type} ${b64}`);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new SshKeyError("the key does not parse");
  if (parsed.isPrivateKey()) throw new SshKeyError("this is a private key; send the .pub file");
  const blob = parsed.getPublicSSH();
  if (type === "ssh-rsa") {
    // The RSA modulus is the last mpint of the blob; its length gives the size.
    const bits = rsaBits(blob);
    if (bits < MIN_RSA_BITS)
      throw new SshKeyError(`RSA keys must have at least ${MIN_RSA_BITS} bits (this has ${bits})`);
  }
  return {
    publicKey: `${type} ${blob.toString("base64")}`,
    type,
    fingerprint: fingerprintOfBlob(blob),
    comment: parts.slice(2).join(" "),
  };
}

function rsaBits(blob: Buffer): number {
  let off = 0;
  const next = () => {
    const len = blob.readUInt32BE(off);
    const v = blob.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    return v;
  };
  next(); // type
  next(); // e
  const n = next();
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return (n.length - i) * 8;
}
