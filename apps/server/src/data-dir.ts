import { constants } from "node:fs";
import { access, chmod, mkdir, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StartupError } from "./config.ts";

/**
 * Creates the data dir if needed and proves it is writable. Mode 0711: other
 * users (the private PostgreSQL's system user) may traverse to their own
 * subdirectory but cannot list or read anything.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    const st = await stat(dir);
    if (!st.isDirectory()) throw new StartupError(`data dir ${dir} is not a directory; pass --data-dir DIR`);
    await access(dir, constants.W_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    await writeFile(probe, "");
    await unlink(probe);
    if ((st.mode & 0o777) !== 0o711 && st.uid === process.getuid?.()) await chmod(dir, 0o711);
  } catch (err) {
    if (err instanceof StartupError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new StartupError(
      `data dir ${dir} is not writable (${code}); pass --data-dir DIR or fix its permissions`,
      { cause: err },
    );
  }
}
