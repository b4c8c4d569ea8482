import { defineConfig } from "vitest/config";

// Unit tests (*.test.ts) and integration tests (*.integ.test.ts) live next to
// the code they test; whole-system tests live in tests/e2e. Integration tests
// touch real PostgreSQL, runsc, netns and nftables, so files run one at a time
// on this 2-core machine unless a project opts in to parallelism.
export default defineConfig({
  test: {
    include: ["{apps,packages,internal}/*/src/**/*.test.ts", "tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: "forks",
    globalSetup: ["internal/testkit/src/global-setup.ts"],
    reporters: ["default"],
  },
});
