import { randomBytes } from "node:crypto";

// Lowercase Crockford-style base32 without ambiguous letters: ids are safe in
// host paths, interface-name hashes and URLs, and read well in logs.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[(bytes[i] ?? 0) & 31];
  return out;
}

export type IdPrefix =
  | "usr"
  | "tok"
  | "org"
  | "box"
  | "op"
  | "key"
  | "node"
  | "gw"
  | "cmd"
  | "team"
  | "tpl"
  | "evt"
  | "sec"
  | "sess"
  | "bld"
  | "pb"
  | "pool";

/** A server-generated id such as `box_0p3k...`: `^[a-z]+_[0-9a-z]{20}$`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase32(20)}`;
}

export const ID_PATTERN = /^[a-z]+_[0-9a-z]{20}$/;

export interface IdGen {
  newId(prefix: IdPrefix): string;
}

export const randomIds: IdGen = { newId };
