// Out-of-memory kills through the API (test catalogue A9, "API reports
// OOMKilled and the box is restartable"): each process a box's OOM guard
// kills becomes one box event (SSE `oom_kill`, and the box's history) and
// counts on the box object; a sandbox the host killed for lack of memory
// fails with lastError.code oom_killed and starts again. The fake runtime
// stands in for the node (the gVisor guard itself: isolation.integ.test.ts).
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let token: string;
const base = "/api/v1/orgs/mem/boxes";

beforeAll(async () => {
  api = await startBoxTestApi();
  token = await api.createUser("mona");
  await api.call("POST", "/api/v1/orgs", { token, body: { name: "mem" } });
});
afterAll(async () => api?.close());

async function box(name: string) {
  return (await api.call("GET", `${base}/${name}`, { token })).body;
}

async function settled(name: string, state: string) {
  return waitFor(
    async () => {
      const b = await box(name);
      return b.actualState === state && b.observedGeneration === b.generation ? b : null;
    },
    { timeoutMs: 15_000, message: `${name} to be ${state}` },
  );
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * Reads the box's event stream until `until` holds (or 10 s pass). `opened`
 * is called at its first event (the current state): from then on nothing
 * that happens to the box is missed.
 */
async function readEvents(
  name: string,
  until: (events: SseEvent[]) => boolean,
  opened: () => void = () => {},
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  const res = await fetch(`${api.url}${base}/${name}/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  const reader = res.body!.getReader();
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
        if (events.length === 1) opened();
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

describe("OOM kills in a box", () => {
  it("each kill is one box event and counts on the box; re-reports record nothing twice", async () => {
    const created = await api.call("POST", base, { token, body: { name: "hog", template: "busybox" } });
    expect(created.status).toBe(202);
    expect(created.body.box).toMatchObject({ oomKills: 0, lastOomKill: null });
    const id = (await settled("hog", "running")).id as string;

    let opened = () => {};
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const stream = readEvents("hog", (ev) => ev.filter((e) => e.event === "oom_kill").length >= 2, opened);
    await open;
    const first = api.runtime.oomKill(id, { command: "awk", uid: 1000, rssMiB: 70 });
    const second = api.runtime.oomKill(id, { command: "sort", uid: 0, rssMiB: 190 });
    const kills = (await stream).filter((e) => e.event === "oom_kill");
    expect(kills.map((e) => e.data)).toEqual([
      expect.objectContaining({
        from: "running",
        to: "running",
        reason: `out of memory: the box's OOM guard killed pid ${first.pid} (awk), uid 1000, 70 MiB resident`,
      }),
      expect.objectContaining({
        reason: expect.stringContaining(`pid ${second.pid} (sort), uid 0, 190 MiB`),
      }),
    ]);
    await waitFor(async () => ((await box("hog")).oomKills === 2 ? true : null), {
      timeoutMs: 5_000,
      message: "the box to count two kills",
    });
    expect((await box("hog")).lastOomKill).toEqual({
      at: second.at,
      pid: second.pid,
      command: "sort",
      uid: 0,
      rssMiB: 190,
    });

    // The agent sends the same kills in every report (rereportMs 1 s here) and after a pause.
    await new Promise((r) => setTimeout(r, 2_500));
    await api.call("POST", `${base}/hog/pause`, { token });
    await settled("hog", "paused");
    await api.call("POST", `${base}/hog/resume`, { token });
    await settled("hog", "running");
    const third = api.runtime.oomKill(id, { command: "python3", uid: 1000, rssMiB: 120 });
    await waitFor(async () => ((await box("hog")).oomKills === 3 ? true : null), {
      timeoutMs: 5_000,
      message: "the third kill",
    });
    expect((await box("hog")).lastOomKill).toMatchObject({ pid: third.pid, command: "python3" });

    const history = (await api.call("GET", `${base}/hog/history?limit=200`, { token })).body.items as Array<{
      reason?: string;
    }>;
    const oomLines = history.filter((e) => e.reason?.startsWith("out of memory:")).map((e) => e.reason);
    expect(oomLines).toHaveLength(3);
    expect(oomLines[0]).toContain("(python3)");
  });

  it("a sandbox killed for lack of memory fails with oom_killed and starts again", async () => {
    await api.call("POST", base, { token, body: { name: "gone", template: "busybox" } });
    const id = (await settled("gone", "running")).id as string;
    api.runtime.crash(id, "sandbox died: out of memory", { oom: true });
    const failed = await waitFor(
      async () => {
        const b = await box("gone");
        return b.actualState === "failed" ? b : null;
      },
      { timeoutMs: 10_000, message: "the box to fail" },
    );
    expect(failed.lastError).toMatchObject({ code: "oom_killed", message: "sandbox died: out of memory" });

    expect((await api.call("POST", `${base}/gone/start`, { token })).status).toBe(202);
    const back = await settled("gone", "running");
    expect(back.lastError).toBeNull();
    expect(api.runtime.state.boxes.get(id)?.phase).toBe("running");
  });
});
