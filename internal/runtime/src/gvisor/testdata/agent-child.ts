// A stand-in node agent for the D1 test: it starts one box with the gvisor
// driver, says READY, and then idles until the test SIGKILLs it.

import { LayerStore } from "@boxyard/images";
import { GvisorRuntime } from "../gvisor-runtime.ts";

const [stateDir, storeRoot, cgroupParent, boxId, layer] = process.argv.slice(2);
if (!stateDir || !storeRoot || !cgroupParent || !boxId || !layer)
  throw new Error("usage: agent-child STATE STORE CGROUP ID LAYER");
const rt = new GvisorRuntime({ stateDir, layers: new LayerStore({ root: storeRoot }), cgroupParent });
await rt.prepare({
  id: boxId,
  hostname: "child",
  layers: [layer],
  resources: { cpu: 1, memoryMiB: 256, diskGiB: 1 },
  network: { egress: "deny-all" },
});
const obs = await rt.start(boxId);
process.stdout.write(`READY ${obs.pid}\n`);
setInterval(() => {}, 60_000);
