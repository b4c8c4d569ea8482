// One fresh database per test, so tests never see each other's rows, created
// on a shared server (the run's global one, an external one, or a file's own).

import { randomBytes } from "node:crypto";
import { withDatabase } from "@boxyard/postgres";
import pg from "pg";

export const TEST_DATABASE_URL_ENV = "BOXYARD_TEST_DATABASE_URL";

export class TestDatabaseUnconfiguredError extends Error {
  readonly code = "test_database_unconfigured";

  constructor() {
    super(
      `${TEST_DATABASE_URL_ENV} is not set: add internal/testkit/src/global-setup.ts to vitest's globalSetup, or use startTestPostgres()`,
    );
    this.name = "TestDatabaseUnconfiguredError";
  }
}

export interface TestDatabase {
  /** URL of the new database, with the server URL's credentials. */
  url: string;
  name: string;
  /** Drops the database, disconnecting anyone still connected. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database on `serverUrl` (default: the
 * BOXYARD_TEST_DATABASE_URL server). The URL's role needs CREATEDB.
 */
export async function createTestDatabase(options: { serverUrl?: string } = {}): Promise<TestDatabase> {
  const serverUrl = options.serverUrl ?? process.env[TEST_DATABASE_URL_ENV];
  if (serverUrl === undefined || serverUrl === "") throw new TestDatabaseUnconfiguredError();
  const name = `boxyard_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  let dropped: Promise<void> | undefined;
  return {
    url: withDatabase(serverUrl, name),
    name,
    drop: () => {
      dropped ??= withClient(serverUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      });
      return dropped;
    },
  };
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
