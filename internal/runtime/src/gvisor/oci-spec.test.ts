import { describe, expect, it } from "vitest";
import type { BoxSpec } from "../runtime.ts";
import { boxPaths } from "./box-paths.ts";
import { buildOciSpec, defaultMaxProcesses } from "./oci-spec.ts";

const spec: BoxSpec = {
  id: "b1",
  hostname: "my-box",
  layers: [],
  resources: { cpu: 1.5, memoryMiB: 256, diskGiB: 1 },
  network: { egress: "deny-all" },
};

type Config = {
  hostname: string;
  process: { user: { uid: number }; args: string[]; rlimits: Array<{ type: string; hard: number }> };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; source: string; options?: string[] }>;
  linux: {
    cgroupsPath: string;
    namespaces: Array<{ type: string; path?: string }>;
    resources: { memory: { limit: number }; cpu: { quota: number; period: number }; pids: { limit: number } };
  };
};

describe("buildOciSpec", () => {
  const paths = boxPaths("/srv/state", "b1");
  const config = buildOciSpec({
    spec,
    paths,
    boxinitHostPath: "/srv/state/bin/boxinit-x",
    cgroupsPath: "/boxyard/b1",
    netnsPath: "/var/run/netns/by-b1",
  }) as Config;

  it("runs boxinit as root in the box's overlay root with its hostname", () => {
    expect(config.process.user.uid).toBe(0);
    expect(config.process.args).toEqual(["/.boxyard/init"]);
    expect(config.root).toEqual({ path: "/srv/state/boxes/b1/rootfs", readonly: false });
    expect(config.hostname).toBe("my-box");
  });

  it("sets memory, CPU quota, RLIMIT_NPROC and a pids backstop", () => {
    expect(config.linux.resources.memory.limit).toBe(256 * 1024 * 1024);
    expect(config.linux.resources.cpu).toEqual({ quota: 150_000, period: 100_000 });
    const nproc = config.process.rlimits.find((r) => r.type === "RLIMIT_NPROC");
    expect(nproc?.hard).toBe(defaultMaxProcesses);
    expect(config.linux.resources.pids.limit).toBeGreaterThan(defaultMaxProcesses);
    expect(config.linux.cgroupsPath).toBe("/boxyard/b1");
  });

  it("joins the box netns and mounts only the box's own volumes and boxinit", () => {
    expect(config.linux.namespaces).toContainEqual({ type: "network", path: "/var/run/netns/by-b1" });
    const binds = config.mounts.filter((m) => m.source.startsWith("/"));
    expect(binds.map((m) => [m.destination, m.source])).toEqual([
      ["/home/dev", "/srv/state/boxes/b1/disk/home"],
      ["/workspace", "/srv/state/boxes/b1/disk/workspace"],
      ["/.boxyard/init", "/srv/state/bin/boxinit-x"],
    ]);
    expect(binds.find((m) => m.destination === "/.boxyard/init")?.options).toContain("ro");
  });

  it("caps /tmp and /dev/shm at half and a quarter of the box's memory", () => {
    const tmpfs = (dest: string) => config.mounts.find((m) => m.destination === dest)?.options;
    expect(tmpfs("/tmp")).toContain("size=128m");
    expect(tmpfs("/dev/shm")).toContain("size=64m");
  });

  it("lends boxinit's OOM guard the box's memory cgroup usage, read-only", () => {
    const withCgroup = buildOciSpec({
      spec,
      paths,
      boxinitHostPath: "/srv/state/bin/boxinit-x",
      cgroupsPath: "/boxyard/b1",
      memoryCgroupDir: "/sys/fs/cgroup/memory/boxyard/b1",
    }) as Config;
    const binds = withCgroup.mounts.filter((m) => m.source.startsWith("/sys/fs/cgroup/"));
    expect(binds.map((m) => [m.destination, m.source, m.options])).toEqual([
      [
        "/.boxyard/memory.usage_in_bytes",
        "/sys/fs/cgroup/memory/boxyard/b1/memory.usage_in_bytes",
        ["bind", "ro"],
      ],
      ["/.boxyard/memory.stat", "/sys/fs/cgroup/memory/boxyard/b1/memory.stat", ["bind", "ro"]],
    ]);
  });
});

describe("boxPaths", () => {
  it("derives host paths only from valid box ids", () => {
    expect(boxPaths("/s", "abc_1").dir).toBe("/s/boxes/abc_1");
    for (const bad of ["../x", "A", "", "a/b", "x".repeat(33)]) {
      expect(() => boxPaths("/s", bad)).toThrow(/invalid box id/);
    }
  });
});
