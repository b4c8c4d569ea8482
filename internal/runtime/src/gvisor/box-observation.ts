// What the gvisor driver reports about a box: the phase from its record,
// corrected by what runsc says about the sandbox (a record that says running
// with no live sandbox is a failed box), plus usage from its cgroup and disk
// and the processes its OOM guard killed.

import type { BoxObservation } from "../runtime.ts";
import { diskUsedBytes } from "./box-disk.ts";
import { readOomKills } from "./box-oom-log.ts";
import type { BoxPaths } from "./box-paths.ts";
import type { BoxRecord } from "./box-record.ts";
import { cgroupUsage, oomKills } from "./cgroups.ts";
import { isMounted } from "./mounts.ts";
import type { SandboxState } from "./runsc.ts";

export async function observeBox(opts: {
  rec: BoxRecord;
  st: SandboxState | null;
  paths: BoxPaths;
  cgroupsPath: string;
}): Promise<BoxObservation> {
  const { rec, st, paths, cgroupsPath } = opts;
  const obs: BoxObservation = {
    id: rec.spec.id,
    phase: rec.phase,
    identity: {
      hostname: rec.spec.hostname,
      ...(rec.spec.machineId !== undefined ? { machineId: rec.spec.machineId } : {}),
    },
  };
  if (st && (st.status === "running" || st.status === "paused")) {
    obs.phase = st.status;
    if (st.pid > 0) obs.pid = st.pid;
  } else if (st?.status === "created") {
    obs.phase = "failed";
    obs.reason = "sandbox was created but never started";
  } else if (rec.phase === "running" || rec.phase === "paused") {
    const ooms = await oomKills(cgroupsPath);
    obs.phase = "failed";
    obs.reason = ooms > 0 ? "sandbox died: out of memory" : "sandbox exited unexpectedly";
    if (ooms > 0) obs.oomKilled = true;
  }
  if (rec.address) obs.address = rec.address;
  const usage: NonNullable<BoxObservation["usage"]> = {};
  if (obs.pid !== undefined) Object.assign(usage, await cgroupUsage(cgroupsPath));
  if (await isMounted(paths.diskMount)) {
    usage.diskBytes = await diskUsedBytes(paths.diskMount);
    const kills = await readOomKills(paths.upper);
    usage.oomKills = kills.length;
    if (kills.length > 0) obs.oomKills = kills.slice(-20);
  }
  obs.usage = usage;
  return obs;
}
