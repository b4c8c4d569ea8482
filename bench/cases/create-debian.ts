// create-debian / create-debian-pool: create-to-ready of a box from a Debian
// dev template with a private repository (issue 9's case (b)). The template
// (Debian bookworm with git and python3, a repository served by git's smart
// HTTP in a netns of this run's own, its token an org secret, a small
// `init`) is pushed and its prebuild left to finish; then each sample times
// `POST .../boxes` until an `exec` of `git -C /workspace rev-parse HEAD`
// answers the repository's commit: without a pool (`create-debian`), and
// claiming a box from a warm pool of 2 (`create-debian-pool`, measured from
// a full pool). Floor: `runsc run --detach` + `runsc exec` of the same
// command on the same rootfs (the image layer and the prebuild's layer as a
// read-only overlay, lowest first, as the box's root has them), sampled in
// turn with Boxyard's. Under the table: the server's per-phase split
// (boxyard_box_create_phase_seconds). The prebuild's layer is removed from
// the shared layer cache at the end (it holds this run's commit).

import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type GitUpstream, git, makePrivateRepo, startGitUpstream } from "../../tests/e2e/git-upstream.ts";
import {
  type BenchApi,
  type CaseContext,
  type CaseOutput,
  type CaseResult,
  deleteBoxes,
  envInt,
  mountLayers,
  progress,
  RawFloor,
  run,
  sleep,
  stats,
  unmountLayers,
} from "./common.ts";
import { phaseBuckets, phaseP50s, phaseText, splitLine } from "./phases.ts";

const TEMPLATE = "deb";
const POOL_SIZE = 2;
const GIT_PORT = 8080;
/** The first command: the checkout's commit, read by the box user. */
const PROBE = ["git", "-C", "/workspace", "rev-parse", "HEAD"];

/** The run's git server: a netns and veth of its own (10.232.X.0/30, X drawn per run), the veth's host end the node's box uplink. */
export interface DebianUpstream {
  uplink: string;
  url: string;
  address: string;
  token: string;
  /** The bare repository (its main is the commit boxes must show). */
  bare: string;
  stop(): Promise<void>;
}

export async function startDebianUpstream(): Promise<DebianUpstream> {
  const id = randomBytes(3).toString("hex").slice(0, 4);
  const x = Math.floor(Math.random() * 256);
  const address = `10.232.${x}.2`;
  const token = `bench-${randomBytes(12).toString("hex")}`;
  const repos = await makePrivateRepo("boxyard-bench-repo-");
  const o = {
    netns: `bd${id}-git`,
    uplink: `bd${id}up0`,
    hostSide: `10.232.${x}.1`,
    address,
    port: GIT_PORT,
    root: repos.root,
    token,
  };
  let upstream: GitUpstream;
  try {
    upstream = await startGitUpstream(o);
  } catch (err) {
    // Whatever of the netns it made goes with it (the veth's host end too).
    await run("ip", ["netns", "del", o.netns]).catch(() => {});
    await rm(repos.root, { recursive: true, force: true });
    throw err;
  }
  return {
    uplink: o.uplink,
    url: `http://${address}:${GIT_PORT}/private/app.git`,
    address,
    token,
    bare: repos.bare,
    stop: async () => {
      await upstream.stop();
      await rm(repos.root, { recursive: true, force: true });
    },
  };
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(500)) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
  }
}

async function probe(api: BenchApi, box: string): Promise<string> {
  const r = await api.call("POST", `/api/v1/orgs/bench/boxes/${box}/exec`, { command: PROBE });
  if (r.status !== 200 || r.body.exitCode !== 0)
    throw new Error(`exec ${box}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.stdout.trim();
}

export async function createDebian(ctx: CaseContext): Promise<CaseOutput> {
  const up = ctx.gitUpstream;
  if (!up) throw new Error("create-debian needs the run's git upstream (run.ts starts it)");
  const n = envInt("BENCH_N", 30);
  const wanted = ctx.wanted ?? (() => true);
  const { api } = ctx;
  const results: Record<string, CaseResult> = {};
  const notes: string[] = [];
  const dir = join(ctx.work, "raw-debian");
  const rootfsMount = join(dir, "rootfs");
  let raw: RawFloor | undefined;
  const boxes = new Set<string>();
  const prebuildLayers = new Set<string>();
  const poolPath = `/api/v1/orgs/bench/templates/${TEMPLATE}/pool`;
  let poolSet = false;
  try {
    const commit = await git(up.bare, "rev-parse", "main");
    progress(
      "create-debian: pushing the Debian template with a repository; waiting for its image and prebuild",
    );
    const s = await api.call("POST", "/api/v1/orgs/bench/secrets", { name: "GIT_TOKEN", value: up.token });
    if (s.status !== 200) throw new Error(`secret: ${s.status} ${JSON.stringify(s.body)}`);
    const t = await api.call("POST", "/api/v1/orgs/bench/templates", {
      name: TEMPLATE,
      spec: {
        // The packages of the e2e Debian templates: the machine's layer cache has this image.
        image: { base: "debian-bookworm", packages: ["git", "python3"] },
        resources: { cpu: 1, memoryMiB: 512, diskGiB: 2 },
        repo: { url: up.url, ref: "main", secret: "GIT_TOKEN" },
        network: { egress: { allow: [`${up.address}:${GIT_PORT}`] } },
        init: ["git rev-parse HEAD > .prebuilt-at"],
      },
    });
    if (t.status !== 201) throw new Error(`template: ${t.status} ${JSON.stringify(t.body)}`);
    const version = t.body.version as number;
    const build = await until("the template's image build", 20 * 60_000, async () => {
      const b = (await api.call("GET", `/api/v1/orgs/bench/templates/${TEMPLATE}/versions/${version}/build`))
        .body;
      if (b?.status === "failed") throw new Error(`image build failed: ${b.error ?? JSON.stringify(b)}`);
      return b?.status === "ready" ? (b as { layers: string[] }) : undefined;
    });
    const prebuild = await until("the template's prebuild", 10 * 60_000, async () => {
      const items = (await api.call("GET", `/api/v1/orgs/bench/templates/${TEMPLATE}/prebuilds`)).body?.items;
      const p = items?.[0];
      if (p?.layer) prebuildLayers.add(p.layer);
      if (p?.status === "failed") throw new Error(`prebuild failed: ${p.error}`);
      return p?.status === "ready"
        ? (p as { commit: string; layer: string; elapsedSeconds: number })
        : undefined;
    });
    if (prebuild.commit !== commit)
      throw new Error(`prebuild at ${prebuild.commit}, repository at ${commit}`);
    notes.push(
      `create-debian: template debian-bookworm + git, python3, a private repository (token secret) and one init command; prebuild ${prebuild.elapsedSeconds.toFixed(1)} s`,
    );

    // The floor's rootfs: the box's layers, lowest first (image, then prebuild), read-only.
    const rootfs = await mountLayers([...build.layers, prebuild.layer].map(ctx.layerPath), rootfsMount);
    raw = new RawFloor(join(dir, "raw"), rootfs);
    const floorOnce = async (id: string): Promise<number> => {
      const t0 = performance.now();
      await raw!.start(id);
      const out = (await raw!.exec(id, PROBE, { user: "1000:1000", env: ["HOME=/home/dev"] })).trim();
      const ms = performance.now() - t0;
      await raw!.destroy(id);
      if (out !== commit) throw new Error(`raw exec answered ${out}, not ${commit}`);
      return ms;
    };
    const createOnce = async (name: string) => {
      boxes.add(name);
      const t0 = performance.now();
      const r = await api.call("POST", "/api/v1/orgs/bench/boxes", { name, template: TEMPLATE });
      if (r.status !== 202) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      const answered = performance.now();
      await api.until(name, "running", 300_000);
      const running = performance.now();
      const head = await probe(api, name);
      const done = performance.now();
      if (head !== commit) throw new Error(`${name}: HEAD ${head}, not ${commit}`);
      return {
        ms: done - t0,
        api: answered - t0,
        toRunning: running - answered,
        exec: done - running,
        claimed: r.body.operation.status === "succeeded",
      };
    };
    const remove = async (name: string) => {
      await deleteBoxes(api, [name]);
      boxes.delete(name);
    };

    // Warm-up (untimed): a first box and a first raw sandbox of this rootfs.
    progress("create-debian: warming up");
    await createOnce("dwarm");
    await remove("dwarm");
    await floorOnce("w00");

    const split = (xs: Array<{ api: number; toRunning: number; exec: number }>) => {
      const p = (k: "api" | "toRunning" | "exec") => stats(xs.map((x) => x[k])).p50.toFixed(0);
      return `API call ${p("api")}, then until the API shows running ${p("toRunning")}, then the exec ${p("exec")}`;
    };

    if (wanted("create-debian")) {
      const ms: number[] = [];
      const floor: number[] = [];
      const parts: Array<{ api: number; toRunning: number; exec: number }> = [];
      const before = phaseBuckets(await phaseText(api.url));
      for (let i = 0; i < n; i++) {
        progress(`create-debian ${i + 1}/${n}`);
        const name = `d${i}`;
        const c = await createOnce(name);
        if (c.claimed) throw new Error(`${name} was claimed from a pool; none was set`);
        ms.push(c.ms);
        parts.push(c);
        await remove(name);
        floor.push(await floorOnce(`f${String(i).padStart(2, "0")}`));
      }
      results["create-debian"] = { boxyard: stats(ms), floor: stats(floor), ratio: 0, unit: "ms" };
      notes.push(
        `create-debian: p50 split seen by the bench (ms): ${split(parts)}`,
        splitLine("create-debian", phaseP50s(before, phaseBuckets(await phaseText(api.url)))),
      );
    }

    if (wanted("create-debian-pool")) {
      const poolSettled = async (ready: number) =>
        until(`the pool at ${ready}`, 300_000, async () => {
          const p = (await api.call("GET", poolPath)).body;
          return p.ready === ready && p.starting === 0 && p.draining === 0 ? true : undefined;
        });
      // A full pool at rest: every box booted has also finished its set-up (secrets, the checkout's
      // fetch), seen as an `init` observation per `boot` one (counted from here: a box deleted before
      // its set-up ended has none); nothing of the fills runs beside a sample.
      const unfinished = async () => {
        const b = phaseBuckets(await phaseText(api.url));
        const count = (phase: string) => b.get(phase)?.at(-1)?.[1] ?? 0;
        return count("boot") - count("init");
      };
      const unfinishedBefore = await unfinished();
      const atRest = async () => {
        await poolSettled(POOL_SIZE);
        await until("the pool's boxes to finish their set-up", 300_000, async () =>
          (await unfinished()) <= unfinishedBefore ? true : undefined,
        );
      };
      const ms: number[] = [];
      const floor: number[] = [];
      const parts: Array<{ api: number; toRunning: number; exec: number }> = [];
      poolSet = true;
      const set = await api.call("PUT", poolPath, { size: POOL_SIZE });
      if (set.status !== 200) throw new Error(`pool: ${set.status} ${JSON.stringify(set.body)}`);
      const before = phaseBuckets(await phaseText(api.url));
      for (let i = 0; i < n; i++) {
        progress(`create-debian-pool ${i + 1}/${n}`);
        // From a full pool at rest: the refill after the previous claim is done, set-up included.
        await atRest();
        const name = `q${i}`;
        const c = await createOnce(name);
        if (!c.claimed) throw new Error(`${name} was not claimed from the pool`);
        ms.push(c.ms);
        parts.push(c);
        // The claimed box really has the repository at its commit, as its node reports it (untimed).
        const reported = await until(`${name}'s checkout`, 60_000, async () => {
          const b = (await api.call("GET", `/api/v1/orgs/bench/boxes/${name}`)).body;
          return b?.repo?.commit ?? undefined;
        });
        if (reported !== commit) throw new Error(`${name}: the node reports ${reported}, not ${commit}`);
        const marker = await api.call("POST", `/api/v1/orgs/bench/boxes/${name}/exec`, {
          command: [
            "sh",
            "-c",
            "cd /workspace && cat README .prebuilt-at && test ! -e .git/boxyard-prebuild",
          ],
        });
        if (marker.body?.exitCode !== 0 || marker.body.stdout !== `first\n${commit}\n`)
          throw new Error(`${name}: the checkout is not as prebuilt: ${JSON.stringify(marker.body)}`);
        await remove(name);
        // The floor too runs beside no refill.
        await atRest();
        floor.push(await floorOnce(`g${String(i).padStart(2, "0")}`));
      }
      results["create-debian-pool"] = { boxyard: stats(ms), floor: stats(floor), ratio: 0, unit: "ms" };
      notes.push(
        `create-debian-pool: a warm pool of ${POOL_SIZE}; p50 split seen by the bench (ms): ${split(parts)}`,
        splitLine(
          "create-debian-pool (pool fills)",
          phaseP50s(before, phaseBuckets(await phaseText(api.url))),
        ),
      );
    }
  } finally {
    if (poolSet) {
      await api.call("PUT", poolPath, { size: 0 }).catch(() => {});
      await until("the pool to drain", 300_000, async () => {
        const p = (await api.call("GET", poolPath)).body;
        return p && p.ready + p.starting + p.draining === 0 ? true : undefined;
      }).catch((err) => progress(String(err)));
    }
    await deleteBoxes(api, [...boxes]);
    await raw?.destroyAll();
    await unmountLayers(rootfsMount).catch((err) => progress(`cannot unmount ${rootfsMount}: ${err}`));
    // This run's prebuild layers hold its own commit: no later run uses them.
    for (const l of prebuildLayers) await rm(ctx.layerPath(l), { recursive: true, force: true });
  }
  const left = await raw?.census();
  if (left?.length) throw new Error(`create-debian left: ${left.join("; ")}`);
  return { results, notes };
}
