// What an end-to-end test's node may have left when a test failed half-way:
// sandboxes, the node network (bridge, nft tables, netns) and mounts under
// its data dir. Boxes a passing test deleted through the API are gone already.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { NodeNetwork } from "@boxyard/netns";

const run = promisify(execFile);

export async function releaseTestNode(o: { dataDir: string; prefix: string; subnet: string }): Promise<void> {
  const runscRoot = join(o.dataDir, "node", "boxes", "runsc");
  if (existsSync(runscRoot)) {
    const { stdout } = await run("runsc", [`--root=${runscRoot}`, "list", "-quiet"]).catch(() => ({
      stdout: "",
    }));
    for (const id of stdout.split("\n").filter(Boolean))
      await run("runsc", [`--root=${runscRoot}`, "delete", "-force", id]).catch(() => {});
  }
  const net = await NodeNetwork.open({
    stateDir: join(o.dataDir, "node", "network"),
    prefix: o.prefix,
    subnet: o.subnet,
  }).catch(() => undefined);
  await net?.close({ removeBridge: true });
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n").reverse()) {
    const mnt = line.split(" ")[1];
    if (mnt?.startsWith(o.dataDir)) await run("umount", ["-l", mnt]).catch(() => {});
  }
}
