// The postgres command line. Settings go on the command line rather than in
// postgresql.conf so every start applies them, whatever the file says.

import type { PgLayout } from "./layout.ts";

export type Listen = { kind: "socket-only" } | { kind: "tcp"; host: string; port: number };

export function postgresArgs(layout: PgLayout, listen: Listen): string[] {
  const settings: Record<string, string> = {
    // Socket only by default: boxes share the host's network, so nothing may listen on TCP.
    listen_addresses: listen.kind === "tcp" ? listen.host : "",
    ...(listen.kind === "tcp" && { port: String(listen.port) }),
    unix_socket_directories: layout.runDir,
    // Acknowledged commits must survive a crash of PostgreSQL or the machine.
    fsync: "on",
    synchronous_commit: "on",
    full_page_writes: "on",
    shared_buffers: "64MB",
    max_connections: "100",
    // The supervisor writes stderr to postgres.log and caps its size.
    logging_collector: "off",
    log_destination: "stderr",
    log_line_prefix: "%m [%p] ",
    password_encryption: "scram-sha-256",
  };
  const args = ["-D", layout.clusterDir];
  for (const [name, value] of Object.entries(settings)) args.push("-c", `${name}=${value}`);
  return args;
}
