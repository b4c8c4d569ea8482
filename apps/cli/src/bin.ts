import { main } from "./main.ts";

// Entry point of the bundled `boxyard` executable.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`boxyard: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
