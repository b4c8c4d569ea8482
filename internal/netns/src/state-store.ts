// The persisted address allocations: one JSON file in the agent's state
// directory, replaced atomically (temp file, fsync, rename) so a crash leaves
// either the old or the new file and a restarted agent re-adopts its boxes.
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const destinationSchema = z.strictObject({ ip: z.string(), port: z.number().int() });

const resolvedEgressSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("deny-all") }),
  z.strictObject({ kind: z.literal("allow-all") }),
  z.strictObject({ kind: z.literal("allow-list"), destinations: z.array(destinationSchema) }),
]);

const egressPolicySchema = z.union([
  z.literal("deny-all"),
  z.literal("allow-all"),
  z.strictObject({ allow: z.array(z.string()) }),
]);

const allocationSchema = z.strictObject({
  address: z.string(),
  /** The policy as the caller gave it. */
  egress: egressPolicySchema,
  /** What it resolved to at attach time: exactly the set elements this box holds. */
  resolved: resolvedEgressSchema,
});

const stateSchema = z.strictObject({
  version: z.literal(1),
  prefix: z.string(),
  subnet: z.string(),
  boxes: z.record(z.string(), allocationSchema),
});

export type Allocation = z.infer<typeof allocationSchema>;
export type NetworkState = z.infer<typeof stateSchema>;

export const STATE_FILE = "network.json";

export async function loadState(dir: string): Promise<NetworkState | null> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  return stateSchema.parse(JSON.parse(text));
}

export async function saveState(dir: string, state: NetworkState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const target = join(dir, STATE_FILE);
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  try {
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename is durable only once the directory entry is on disk.
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
