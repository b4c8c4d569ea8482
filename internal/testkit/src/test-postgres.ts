// A PostgreSQL server for one test file: the external one named by
// BOXYARD_TEST_DATABASE_URL when set (CI, `make test` against a standalone
// server, or the run's global setup), else a private one in a temp dir.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPrivatePostgres } from "@boxyard/postgres";
import { createTestDatabase, TEST_DATABASE_URL_ENV, type TestDatabase } from "./test-database.ts";

export interface TestPostgres {
  /** A URL whose role may create databases (the superuser of a private server). */
  url: string;
  /** True when this call started its own server. */
  private: boolean;
  createTestDatabase(): Promise<TestDatabase>;
  /** Stops and deletes a private server; a no-op for an external one. */
  stop(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env[TEST_DATABASE_URL_ENV];
  if (external !== undefined && external !== "") {
    return {
      url: external,
      private: false,
      createTestDatabase: () => createTestDatabase({ serverUrl: external }),
      stop: async () => {},
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "boxyard-test-pg-"));
  let server: Awaited<ReturnType<typeof startPrivatePostgres>>;
  try {
    server = await startPrivatePostgres({ dataDir });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const url = server.superuserUrl;
  return {
    url,
    private: true,
    createTestDatabase: () => createTestDatabase({ serverUrl: url }),
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
