// Envelope encryption of secret values (architecture.md section 6). Each
// value is sealed with its own random data key (AES-256-GCM); the data key
// is sealed with the server's master key and stored beside the value. The
// database therefore holds only ciphertext: a dump, a backup or a replica
// reveals nothing without the master key, which never enters the database.
// Both seals bind the secret's id as associated data, so a ciphertext moved
// to another row does not open.

import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";

const ALG = "aes-256-gcm";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** What a row stores: nonce || ciphertext || tag for the value and for its data key. */
export interface SealedSecret {
  ciphertext: Buffer;
  wrappedKey: Buffer;
  /** Which master key wrapped the data key (a fingerprint, not the key). */
  keyId: string;
}

export class SecretKeyError extends Error {
  readonly code = "secret_key_invalid";
  constructor(message: string) {
    super(message);
    this.name = "SecretKeyError";
  }
}

function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv(ALG, key, nonce);
  c.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new SecretKeyError("sealed secret is too short");
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const d = createDecipheriv(ALG, key, nonce);
  d.setAAD(Buffer.from(aad, "utf8"));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), d.final()]);
}

/** The master key; holds the only copy of it in the process. */
export class SecretKeyring {
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== KEY_BYTES)
      throw new SecretKeyError(`the secrets master key must be ${KEY_BYTES} bytes, not ${masterKey.length}`);
    this.#key = Buffer.from(masterKey);
    this.keyId = createHash("sha256")
      .update("boxyard-secrets-key-id\0")
      .update(this.#key)
      .digest("hex")
      .slice(0, 16);
  }

  /** Seals a value for the secret `id` under a fresh data key. */
  seal(id: string, plaintext: Buffer): SealedSecret {
    const dataKey = randomBytes(KEY_BYTES);
    try {
      return {
        ciphertext: seal(dataKey, plaintext, `boxyard-secret-value:v1:${id}`),
        wrappedKey: seal(this.#key, dataKey, `boxyard-secret-key:v1:${id}`),
        keyId: this.keyId,
      };
    } finally {
      dataKey.fill(0);
    }
  }

  /** The value of the secret `id`; throws when the master key is not the one that sealed it. */
  open(id: string, sealed: SealedSecret): Buffer {
    if (sealed.keyId !== this.keyId)
      throw new SecretKeyError(
        `secret ${id} was sealed with master key ${sealed.keyId}, but this server has ${this.keyId}`,
      );
    const dataKey = open(this.#key, sealed.wrappedKey, `boxyard-secret-key:v1:${id}`);
    try {
      return open(dataKey, sealed.ciphertext, `boxyard-secret-value:v1:${id}`);
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * A keyed fingerprint of a value (HMAC under a key derived from the master
   * key): lets a request be recognised again (Idempotency-Key) without a
   * plain hash of the value, which would let anyone who reads the database
   * test guesses.
   */
  fingerprint(value: string): string {
    const k = createHmac("sha256", this.#key).update("boxyard-secrets-fingerprint").digest();
    return createHmac("sha256", k).update(value, "utf8").digest("hex");
  }

  /** A new random master key. */
  static generateKey(): Buffer {
    return randomBytes(KEY_BYTES);
  }
}
