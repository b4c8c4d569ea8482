// A box's identity inside: hostname, /etc/machine-id and random seed. A fresh
// box gets them at prepare (the OCI spec's hostname; machine-id written into
// its root); a box claimed from a warm pool gets its owner's name and a new
// machine-id while it runs. sethostname(2) needs CAP_SYS_ADMIN, which no
// process in a box holds (capabilities.ts), so the running sandbox is changed
// by one direct `runsc exec` (not through boxinit) granted that capability
// for this command only; the record then carries the new hostname, so every
// later boot uses it too.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BoxIdentity } from "../runtime.ts";
import { hostCommand } from "./host-command.ts";
import type { Runsc } from "./runsc.ts";

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,62})$/;
const MACHINE_ID = /^[0-9a-f]{32}$/;

export function assertIdentity(identity: Required<BoxIdentity>): void {
  if (!HOSTNAME.test(identity.hostname)) throw new Error(`not a hostname: ${identity.hostname}`);
  if (!MACHINE_ID.test(identity.machineId)) throw new Error("machine-id must be 32 lowercase hex digits");
}

/** Writes /etc/machine-id through the box's root mounted on the host (no sandbox running). */
export async function writeMachineId(rootfs: string, machineId: string): Promise<void> {
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await writeFile(join(rootfs, "etc/machine-id"), `${machineId}\n`, { mode: 0o444 });
}

// Runs as root in the box. A random seed file some images keep (systemd's) is
// renewed; gVisor serves getrandom(2) and /dev/urandom from the host per
// call, so no generator state is shared between boxes either way.
const SCRIPT = [
  'hostname "$1"',
  'printf "%s\\n" "$2" > /etc/machine-id',
  'printf "%s\\n" "$1" > /etc/hostname',
  "if [ -f /var/lib/systemd/random-seed ]; then head -c 512 /dev/urandom > /var/lib/systemd/random-seed; fi",
].join(" && ");

/** Sets the identity in a running sandbox. */
export async function applyIdentityInSandbox(
  runsc: Runsc,
  id: string,
  identity: Required<BoxIdentity>,
): Promise<void> {
  assertIdentity(identity);
  await hostCommand(
    runsc.path,
    [
      ...runsc.globalArgs,
      "exec",
      "--user=0:0",
      "--cwd=/",
      "--cap=CAP_SYS_ADMIN",
      "--cap=CAP_DAC_OVERRIDE",
      id,
      "/bin/sh",
      "-c",
      SCRIPT,
      "identity",
      identity.hostname,
      identity.machineId,
    ],
    { timeoutMs: 20_000 },
  );
}
