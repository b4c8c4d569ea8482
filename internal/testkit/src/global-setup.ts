// vitest globalSetup: one PostgreSQL for the whole run, shared by every test
// file through BOXYARD_TEST_DATABASE_URL (inherited by the forked workers) and
// through vitest's inject("boxyardTestDatabaseUrl"). An already set
// BOXYARD_TEST_DATABASE_URL (CI, an external server) is used as it is.

import type { TestProject } from "vitest/node";
import { TEST_DATABASE_URL_ENV } from "./test-database.ts";
import { startTestPostgres } from "./test-postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    boxyardTestDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startTestPostgres();
  process.env[TEST_DATABASE_URL_ENV] = server.url;
  project.provide("boxyardTestDatabaseUrl", server.url);
  return async () => {
    await server.stop();
  };
}
