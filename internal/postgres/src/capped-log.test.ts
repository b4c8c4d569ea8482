import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CappedLog } from "./capped-log.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("CappedLog", () => {
  it("rotates to .1 when the cap would be passed, and keeps the tail readable", () => {
    const dir = mkdtempSync(join(tmpdir(), "boxyard-log-"));
    dirs.push(dir);
    const path = join(dir, "postgres.log");
    const log = new CappedLog({ path, maxBytes: 20 });
    log.write("0123456789\n");
    log.write("abcdefghij\n");
    expect(readFileSync(`${path}.1`, "utf8")).toBe("0123456789\n");
    expect(readFileSync(path, "utf8")).toBe("abcdefghij\n");
    expect(log.tail(5)).toBe("abcdefghij");
    log.close();
    // Writes after close (late lines from dying backends) are dropped, not thrown.
    log.write("late\n");
    expect(existsSync(path)).toBe(true);
  });
});
