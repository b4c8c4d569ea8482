// Writes tar archives in memory (ustar, with a pax header for names that do
// not fit). Tests use it to build image archives byte by byte, including
// entries no well-behaved tool would write (`../` paths, devices, setuid).

import { createHash } from "node:crypto";

export interface TarWriteEntry {
  path: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string | Buffer;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const FLAGS = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" } as const;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

function header(
  name: string,
  flag: string,
  o: {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    linkname: string;
    devmajor: number;
    devminor: number;
  },
): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(octal(o.mode, 8), 100, "ascii");
  h.write(octal(o.uid, 8), 108, "ascii");
  h.write(octal(o.gid, 8), 116, "ascii");
  h.write(octal(o.size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(flag, 156, "ascii");
  h.write(o.linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(octal(o.devmajor, 8), 329, "ascii");
  h.write(octal(o.devminor, 8), 337, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

function pad(b: Buffer): Buffer {
  const rest = b.length % 512;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - rest)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
  return `${len}${body}`;
}

export function writeTar(entries: TarWriteEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? "file";
    const content = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0);
    const linkname = e.linkname ?? "";
    const pax: string[] = [];
    if (Buffer.byteLength(e.path) > 99) pax.push(paxRecord("path", e.path));
    if (Buffer.byteLength(linkname) > 99) pax.push(paxRecord("linkpath", linkname));
    const o = {
      mode: e.mode ?? (type === "dir" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: content.length,
      linkname: linkname.slice(0, 99),
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    if (pax.length > 0) {
      const body = Buffer.from(pax.join(""));
      out.push(header("PaxHeader", "x", { ...o, size: body.length, linkname: "" }), pad(body));
    }
    out.push(header(e.path.slice(0, 99), FLAGS[type], o), pad(content));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}
