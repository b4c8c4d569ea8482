// NodeNetwork's bookkeeping with a scripted host: no root, no kernel. The
// real host behaviour is covered by the *.integ.test.ts files.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CommandRunner } from "./commands.ts";
import { NodeNetwork, type NodeNetworkOptions } from "./node-network.ts";

let root = "";
let failNft = false;
const ok: CommandRunner = async (argv) =>
  failNft && argv[0] === "nft"
    ? { exitCode: 1, stdout: "", stderr: "boom" }
    : { exitCode: 0, stdout: "", stderr: "" };

async function options(extra: Partial<NodeNetworkOptions> = {}): Promise<NodeNetworkOptions> {
  const prefix = extra.prefix ?? "byu";
  const procSys = join(root, "proc");
  for (const dev of [`${prefix}br0`, "up0"]) {
    await mkdir(join(procSys, "net/ipv4/conf", dev), { recursive: true });
    await writeFile(join(procSys, "net/ipv4/conf", dev, "forwarding"), "0\n");
  }
  await mkdir(join(root, "sys", "up0"), { recursive: true });
  return {
    stateDir: join(root, "state"),
    prefix,
    subnet: "10.214.9.0/29",
    runner: ok,
    paths: { netnsDir: join(root, "netns"), sysClassNet: join(root, "sys"), procSys },
    ...extra,
  };
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "byu-"));
  failNft = false;
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("NodeNetwork bookkeeping", () => {
  it("rejects bad configuration with typed errors", async () => {
    for (const bad of [
      { subnet: "10.214.9.1/29" },
      { subnet: "10.214.9.0/31" },
      { prefix: "by-x" },
      { uplink: "eth0; rm" },
      { hostPorts: [0] },
      { privateRanges: ["10.0.0.0"] },
    ]) {
      await expect(NodeNetwork.open(await options(bad as Partial<NodeNetworkOptions>))).rejects.toMatchObject(
        {
          code: "network_invalid_config",
        },
      );
    }
  });

  it("persists allocations atomically and a new instance re-adopts them", async () => {
    const first = await NodeNetwork.open(await options());
    const a = await first.attach("a", { egress: { allow: ["203.0.113.1:443"] } });
    await first.attach("b", { egress: "allow-all" });
    const files = await readdir(join(root, "state"));
    expect(files).toEqual(["network.json"]);
    const state = JSON.parse(await readFile(join(root, "state", "network.json"), "utf8"));
    expect(state.boxes.a).toEqual({
      address: "10.214.9.2",
      egress: { allow: ["203.0.113.1:443"] },
      resolved: { kind: "allow-list", destinations: [{ ip: "203.0.113.1", port: 443 }] },
    });
    const second = await NodeNetwork.open(await options());
    // The attach that set the netns up says so (configured); what is re-adopted is the rest.
    const { configured, ...described } = a;
    expect(configured).toBe(true);
    expect(await second.get("a")).toEqual(described);
    expect((await second.list()).map((n) => n.boxId)).toEqual(["a", "b"]);
  });

  it("runs out of addresses with network_pool_exhausted, and frees them on detach", async () => {
    const net = await NodeNetwork.open(await options());
    for (const id of ["b1", "b2", "b3", "b4", "b5"]) await net.attach(id, { egress: "deny-all" });
    await expect(net.attach("b6", { egress: "deny-all" })).rejects.toMatchObject({
      code: "network_pool_exhausted",
    });
    await net.detach("b3");
    expect((await net.attach("b6", { egress: "deny-all" })).address).toBe("10.214.9.4");
  });

  it("does not keep the allocation of an attach that failed", async () => {
    const net = await NodeNetwork.open(await options());
    failNft = true;
    await expect(net.attach("a", { egress: "deny-all" })).rejects.toMatchObject({
      code: "network_command_failed",
    });
    failNft = false;
    expect(await net.get("a")).toBeNull();
    const state = JSON.parse(await readFile(join(root, "state", "network.json"), "utf8"));
    expect(state.boxes).toEqual({});
  });

  it("turns on forwarding for the bridge and uplink only when an uplink is configured", async () => {
    const opts = await options({ uplink: "up0" });
    const read = (dev: string) => readFile(join(root, "proc/net/ipv4/conf", dev, "forwarding"), "utf8");
    const net = await NodeNetwork.open(opts);
    expect(await read("byubr0")).toBe("1\n");
    expect(await read("up0")).toBe("1\n");
    await net.close();
    await NodeNetwork.open(await options());
    expect(await read("byubr0")).toBe("0\n");
    await expect(NodeNetwork.open(await options({ uplink: "nosuch0" }))).rejects.toMatchObject({
      code: "network_invalid_config",
    });
  });
});
