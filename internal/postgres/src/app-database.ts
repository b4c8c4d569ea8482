// The server connects as an ordinary role that owns its database, not as the
// superuser, so the database can deny it things (e.g. rewriting the audit log).
// Created on first start and checked on every start, so an interrupted first
// start completes on the next.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import pg from "pg";

export const APP_ROLE = "boxyard";
export const APP_DATABASE = "boxyard";

export async function ensureAppDatabase(options: {
  superuserUrl: string;
  passwordFile: string;
}): Promise<string> {
  const password = readOrCreatePassword(options.passwordFile);
  const client = new pg.Client({ connectionString: options.superuserUrl });
  await client.connect();
  try {
    const role = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [APP_ROLE]);
    const verb = role.rowCount === 0 ? "CREATE" : "ALTER";
    // Utility statements take no bind parameters; escapeLiteral quotes safely.
    await client.query(
      `${verb} ROLE ${client.escapeIdentifier(APP_ROLE)} LOGIN PASSWORD ${client.escapeLiteral(password)}`,
    );
    const db = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [APP_DATABASE]);
    if (db.rowCount === 0) {
      await client.query(
        `CREATE DATABASE ${client.escapeIdentifier(APP_DATABASE)} OWNER ${client.escapeIdentifier(APP_ROLE)}`,
      );
    }
  } finally {
    await client.end();
  }
  return password;
}

function readOrCreatePassword(file: string): string {
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const password = randomBytes(24).toString("base64url");
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}
