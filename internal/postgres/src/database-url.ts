// Connection strings for the pg driver. A unix socket directory goes in the
// `host` query parameter, which both node-postgres and libpq understand:
//   postgres://postgres:secret@/boxyard?host=/data/pg/run

export interface DatabaseUrlParts {
  user: string;
  password?: string;
  database: string;
  /** A hostname, or an absolute socket directory. */
  host: string;
  port: number;
}

export function socketUrl(parts: {
  user: string;
  password: string;
  database: string;
  socketDir: string;
}): string {
  const auth = `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  return `postgres://${auth}@/${encodeURIComponent(parts.database)}?host=${encodeURIComponent(parts.socketDir)}`;
}

export function tcpUrl(parts: {
  user: string;
  password: string;
  database: string;
  host: string;
  port: number;
}): string {
  const auth = `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`;
  return `postgres://${auth}@${parts.host}:${parts.port}/${encodeURIComponent(parts.database)}`;
}

/** Parses a postgres:// URL (TCP or `?host=/socket/dir`). Throws on anything else. */
export function parseDatabaseUrl(url: string): DatabaseUrlParts {
  // `@/` (no host) is valid for libpq but not for WHATWG URL; give it a placeholder.
  const parsed = new URL(url.replace("@/", "@unix-socket.invalid/"));
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`not a postgres:// URL: ${parsed.protocol}`);
  }
  const socketDir = parsed.searchParams.get("host");
  const host = socketDir ?? decodeURIComponent(parsed.hostname);
  const password = parsed.password === "" ? undefined : decodeURIComponent(parsed.password);
  return {
    user: decodeURIComponent(parsed.username),
    ...(password !== undefined && { password }),
    database: decodeURIComponent(parsed.pathname.slice(1)) || "postgres",
    host,
    port: parsed.port === "" ? 5432 : Number(parsed.port),
  };
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url.replace("@/", "@unix-socket.invalid/"));
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString().replace("@unix-socket.invalid/", "@/");
}
