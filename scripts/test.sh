#!/usr/bin/env bash
# Runs the whole test suite. Integration tests use a private PostgreSQL the
# suite starts itself (vitest global setup); the database tests also run
# against an "external" PostgreSQL that this script starts on loopback, the way
# an operator's server would be reached with --database-url.
set -euo pipefail
cd "$(dirname "$0")/.."

ext_dir=$(mktemp -d /tmp/boxyard-ext-pg.XXXXXX)
report=$(mktemp /tmp/boxyard-vitest.XXXXXX.json)
cleanup() {
  npx --no-install tsx internal/postgres/src/external-cli.ts stop --dir "$ext_dir" >/dev/null 2>&1 || true
  rm -rf "$ext_dir" "$report"
}
trap cleanup EXIT

echo "test: starting an external PostgreSQL for --database-url tests"
BOXYARD_EXTERNAL_DATABASE_URL=$(npx --no-install tsx internal/postgres/src/external-cli.ts start --dir "$ext_dir")
export BOXYARD_EXTERNAL_DATABASE_URL

mkdir -p test-artifacts
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?

# One plain closing line, whatever the runner printed above it.
if [ -s "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  ' "$report"
fi
exit "$status"
