// A throwaway "node" for gvisor integration tests: its own state dir, layer
// store, and cgroup parent, plus the leak census each test file ends with.

import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBusyboxLayer, LayerStore } from "@boxyard/images";
import type { BoxNetworks } from "@boxyard/netns";
import type { BoxSpec } from "../runtime.ts";
import { controllers } from "./cgroups.ts";
import { GvisorRuntime, type GvisorRuntimeOptions } from "./gvisor-runtime.ts";
import { hostCommand } from "./host-command.ts";
import { mountPoints } from "./mounts.ts";

export interface TestNode {
  dir: string;
  stateDir: string;
  store: LayerStore;
  busybox: string;
  cgroupParent: string;
  network?: BoxNetworks;
  runtime(extra?: Partial<GvisorRuntimeOptions>): GvisorRuntime;
  spec(
    id: string,
    over?: Omit<Partial<BoxSpec>, "resources"> & { resources?: Partial<BoxSpec["resources"]> },
  ): BoxSpec;
  /** What this node still holds on the host: mounts, loop devices, cgroups, sandboxes, box dirs. */
  leaks(): Promise<string[]>;
  /** Removes the node's dirs and cgroup parent (after the census). */
  close(): Promise<void>;
}

export async function createTestNode(
  opts: { network?: BoxNetworks; layerStore?: LayerStore } = {},
): Promise<TestNode> {
  const dir = await mkdtemp(join(tmpdir(), "boxyard-gv-"));
  const stateDir = join(dir, "state");
  const store = opts.layerStore ?? new LayerStore({ root: join(dir, "images") });
  const busybox = await buildBusyboxLayer(store);
  const cgroupParent = `boxyard_test_${randomBytes(3).toString("hex")}`;
  const node: TestNode = {
    dir,
    stateDir,
    store,
    busybox,
    cgroupParent,
    network: opts.network,
    runtime: (extra = {}) =>
      new GvisorRuntime({
        stateDir,
        layers: store,
        network: opts.network,
        cgroupParent,
        stopTimeoutMs: 5000,
        ...extra,
      }),
    spec: (id, over = {}) => ({
      id,
      hostname: id.replace(/_/g, "-"),
      layers: [busybox],
      network: { egress: "deny-all" },
      ...over,
      resources: { cpu: 1, memoryMiB: 256, diskGiB: 1, ...over.resources },
    }),
    async leaks() {
      const found: string[] = [];
      for (const m of await mountPoints()) if (m.startsWith(dir)) found.push(`mount ${m}`);
      const loops = await hostCommand("losetup", ["-a"], { check: false });
      for (const line of loops.stdout.split("\n")) if (line.includes(dir)) found.push(`loop ${line}`);
      for (const c of await controllers()) {
        const entries = await readdir(join("/sys/fs/cgroup", c, cgroupParent), { withFileTypes: true }).catch(
          () => [],
        );
        for (const e of entries) if (e.isDirectory()) found.push(`cgroup ${c}/${cgroupParent}/${e.name}`);
      }
      // -quiet reads only the state dir (a full list waits on a frozen sandbox's sentry).
      const list = await hostCommand("runsc", [`--root=${join(stateDir, "runsc")}`, "list", "-quiet"], {
        check: false,
      });
      for (const id of list.stdout.split("\n").filter(Boolean)) found.push(`sandbox ${id}`);
      const boxes = await readdir(join(stateDir, "boxes")).catch(() => [] as string[]);
      for (const b of boxes) found.push(`box dir ${b}`);
      return found;
    },
    async close() {
      for (const c of await controllers())
        await rmdir(join("/sys/fs/cgroup", c, cgroupParent)).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  return node;
}
