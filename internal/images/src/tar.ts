// A small streaming tar reader: ustar headers, pax extended headers (path,
// linkpath, size, uid, gid) and GNU long names (L/K), which is what image
// tools write. Node has no tar module, and an importer must see every entry
// (its name, type, mode and size) before it writes anything, so this reads
// headers itself and hands each entry's body out as a stream the caller
// reads or skips. Anything it does not understand is an error naming the
// entry, never skipped silently.

import { TarFormatError } from "./errors.ts";

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarEntry {
  /** As written in the archive (pax and GNU long names applied); not normalised. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target, or the path a hardlink refers to. */
  linkname: string;
}

const BLOCK = 512;

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes consumed so far (the offset in the stream). */
  position = 0;

  constructor(private readonly it: AsyncIterator<Buffer | Uint8Array | string>) {}

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = Buffer.concat([this.buf, Buffer.from(r.value as Uint8Array)]);
    }
  }

  /** Exactly n bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Up to `max` bytes that are already buffered or arrive next (for streaming bodies). */
  async readSome(max: number): Promise<Buffer> {
    if (this.buf.length === 0) await this.fill(1);
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Reads the stream to its end (a source may check its digest only there). */
  async drain(): Promise<void> {
    while (!this.done) {
      this.buf = Buffer.alloc(0);
      await this.fill(1);
    }
    this.buf = Buffer.alloc(0);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const chunk = await this.readSome(Math.min(left, 1 << 20));
      if (chunk.length === 0) throw new TarFormatError("the archive ends in the middle of an entry");
      left -= chunk.length;
    }
  }
}

function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul === -1 ? b : b.subarray(0, nul)).toString("utf8");
}

/** Octal (ustar) or base-256 (GNU, high bit set) number field. */
function numeric(b: Buffer, field: string, at: string): number {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) {
    if ((b[0]! & 0x40) !== 0) throw new TarFormatError(`${at}: negative ${field}`);
    let n = b[0]! & 0x3f;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    if (!Number.isSafeInteger(n)) throw new TarFormatError(`${at}: ${field} too large`);
    return n;
  }
  const s = cstring(b).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s))
    throw new TarFormatError(`${at}: ${field} is not an octal number (${JSON.stringify(s)})`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  const want = numeric(h.subarray(148, 156), "checksum", "header");
  return want === unsigned || want === signed;
}

function parsePax(body: Buffer, at: string): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number.parseInt(body.subarray(pos, space).toString("ascii"), 10);
    if (!Number.isInteger(len) || len <= 0 || pos + len > body.length)
      throw new TarFormatError(`${at}: malformed pax header`);
    const record = body.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq === -1) throw new TarFormatError(`${at}: malformed pax record`);
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/** Metadata entries (pax, GNU long names) bigger than this are refused rather than held in memory. */
const MAX_META = 1024 * 1024;

export interface TarEntryWithBody extends TarEntry {
  /** Byte offset of the entry's content in the (uncompressed) stream. */
  dataOffset: number;
  /** The entry's content; read it fully or not at all (the reader skips what is left). */
  body(): AsyncIterable<Buffer>;
}

/**
 * The entries of a tar stream, in order. Each yielded entry's body must be
 * consumed before asking for the next one, or it is skipped.
 */
export async function* readTar(
  source: AsyncIterable<Buffer | Uint8Array | string>,
): AsyncGenerator<TarEntryWithBody> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let globalPax: Record<string, string> = {};
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let index = 0;
  for (;;) {
    const at = `entry ${index + 1} (byte ${r.position})`;
    const h = await r.read(BLOCK);
    if (h.length === 0) return; // Tolerated: some writers leave out the end-of-archive blocks.
    if (h.length < BLOCK) throw new TarFormatError(`${at}: the archive ends in the middle of a header`);
    if (h.every((b) => b === 0)) {
      // The padding after the end: read, so that a source checking its digest at its end gets there.
      await r.drain();
      return;
    }
    if (!checksumOk(h))
      throw new TarFormatError(`${at}: header checksum mismatch (not a tar archive, or corrupt)`);
    const flag = String.fromCharCode(h[156]!);
    let size = numeric(h.subarray(124, 136), "size", at);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_META) throw new TarFormatError(`${at}: metadata entry of ${size} bytes is too large`);
      const body = (await r.read(padded)).subarray(0, size);
      if (body.length < size) throw new TarFormatError(`${at}: the archive ends in the middle of an entry`);
      if (flag === "x") pax = { ...pax, ...parsePax(body, at) };
      else if (flag === "g") globalPax = { ...globalPax, ...parsePax(body, at) };
      else if (flag === "L") longName = cstring(body);
      else longLink = cstring(body);
      continue;
    }
    index++;
    const type = TYPES[flag];
    const meta = { ...globalPax, ...pax };
    const magic = h.subarray(257, 263).toString("latin1");
    const prefix = magic.startsWith("ustar") ? cstring(h.subarray(345, 500)) : "";
    const name = cstring(h.subarray(0, 100));
    const path = meta.path ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    if (!type)
      throw new TarFormatError(`${JSON.stringify(path)}: unsupported tar entry type ${JSON.stringify(flag)}`);
    if (meta.size !== undefined) size = Number(meta.size);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new TarFormatError(`${JSON.stringify(path)}: bad size`);
    const entry: TarEntry = {
      path,
      type,
      mode: numeric(h.subarray(100, 108), "mode", at) & 0o7777,
      uid: meta.uid !== undefined ? Number(meta.uid) : numeric(h.subarray(108, 116), "uid", at),
      gid: meta.gid !== undefined ? Number(meta.gid) : numeric(h.subarray(116, 124), "gid", at),
      // Links, directories and devices have no content whatever the header says.
      size: type === "file" ? size : 0,
      linkname: meta.linkpath ?? longLink ?? cstring(h.subarray(157, 257)),
    };
    pax = {};
    longName = undefined;
    longLink = undefined;
    const dataBytes = Math.ceil(size / BLOCK) * BLOCK;
    let consumed = 0;
    let left = entry.size;
    const body = async function* (): AsyncIterable<Buffer> {
      while (left > 0) {
        const chunk = await r.readSome(Math.min(left, 1 << 20));
        if (chunk.length === 0)
          throw new TarFormatError(`${JSON.stringify(path)}: the archive ends in the middle of its content`);
        left -= chunk.length;
        consumed += chunk.length;
        yield chunk;
      }
    };
    yield { ...entry, dataOffset: r.position, body };
    await r.skip(dataBytes - consumed);
  }
}
