// Typed errors of the gvisor driver, and that a failed prepare leaves
// nothing behind: runsc missing, image layer missing, node disk full,
// resources beyond the node's limits.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;

beforeAll(async () => {
  node = await createTestNode();
});

afterAll(async () => {
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

describe("gvisor driver errors", () => {
  it("runsc missing -> runtime_unavailable", async () => {
    const rt = node.runtime({ runscPath: "/nonexistent/runsc" });
    await expect(rt.prepare(node.spec("err_runsc"))).rejects.toMatchObject({ code: "runtime_unavailable" });
    expect(await rt.inspect("err_runsc")).toBeNull();
  });

  it("image layer missing -> image_layer_missing", async () => {
    const rt = node.runtime();
    const spec = node.spec("err_layer", { layers: [`sha256:${"ab".repeat(32)}`] });
    await expect(rt.prepare(spec)).rejects.toMatchObject({ code: "image_layer_missing" });
    expect(await rt.inspect("err_layer")).toBeNull();
  });

  it("disk bigger than the node's free space -> node_disk_full, nothing left behind", async () => {
    const rt = node.runtime();
    const spec = node.spec("err_disk", { resources: { diskGiB: 1024 * 1024 } });
    await expect(rt.prepare(spec)).rejects.toMatchObject({ code: "node_disk_full" });
    expect(await rt.inspect("err_disk")).toBeNull();
  });

  it("resources beyond the node's limits -> resources_exceed_limits", async () => {
    const rt = node.runtime({ limits: { cpu: 2, memoryMiB: 1024, diskGiB: 10 } });
    await expect(rt.prepare(node.spec("err_res", { resources: { memoryMiB: 4096 } }))).rejects.toMatchObject({
      code: "resources_exceed_limits",
    });
    await expect(rt.prepare(node.spec("err_res", { resources: { cpu: 0 } }))).rejects.toMatchObject({
      code: "resources_exceed_limits",
    });
  });

  it("operations on a box that is not running -> invalid_box_state", async () => {
    const rt = node.runtime();
    await rt.prepare(node.spec("err_state"));
    await expect(rt.exec("err_state", { command: ["true"] })).rejects.toMatchObject({
      code: "invalid_box_state",
    });
    await expect(rt.pause("err_state")).rejects.toMatchObject({ code: "invalid_box_state" });
    await expect(rt.resume("err_state")).rejects.toMatchObject({ code: "invalid_box_state" });
    await rt.destroy("err_state");
  });
});
