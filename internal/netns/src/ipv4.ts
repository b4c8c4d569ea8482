// IPv4 addresses as unsigned 32-bit integers, and CIDR blocks. Only what the
// box network needs: parse, format, and the bounds of a subnet.

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefixLength: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Strict dotted-quad parse: no leading zeros (octal spellings), no shorthand forms. */
export function parseIpv4(text: string): number | null {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return null;
  let value = 0;
  for (const part of m.slice(1, 5)) {
    const octet = part ?? "";
    if (octet.length > 1 && octet.startsWith("0")) return null;
    const n = Number(octet);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Parses "a.b.c.d/n"; the address must be the network address (no host bits set). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const network = parseIpv4(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (network === null || !/^\d{1,2}$/.test(lengthText)) return null;
  const prefixLength = Number(lengthText);
  if (prefixLength > 32) return null;
  if ((network & ~netmask(prefixLength)) >>> 0 !== 0) return null;
  return { network, prefixLength };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefixLength}`;
}

export function netmask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function broadcastOf(cidr: Cidr): number {
  return (cidr.network | ~netmask(cidr.prefixLength)) >>> 0;
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return (address & netmask(cidr.prefixLength)) >>> 0 === cidr.network;
}

/** The bridge (box default gateway) takes the first host address. */
export function gatewayOf(cidr: Cidr): number {
  return cidr.network + 1;
}
