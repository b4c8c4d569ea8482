// The server's per-phase split of box creates (boxyard_box_create_phase_seconds),
// read from /metrics before and after a case: create-debian and burst print it.

/** The server's metrics, as Prometheus scrapes them. */
export async function phaseText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

export type Buckets = Map<string, Array<[number, number]>>;
export function phaseBuckets(text: string): Buckets {
  const out: Buckets = new Map();
  for (const l of text.split("\n")) {
    const m = /^boxyard_box_create_phase_seconds_bucket\{(.*)\} (\S+)$/.exec(l);
    if (!m) continue;
    const phase = /phase="([^"]+)"/.exec(m[1]!)?.[1];
    const le = /le="([^"]+)"/.exec(m[1]!)?.[1];
    if (!phase || !le) continue;
    const b = out.get(phase) ?? [];
    b.push([le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(m[2])]);
    out.set(phase, b);
  }
  return out;
}

/** Per phase: the p50 (interpolated in its bucket, ms) and count of what was observed between two scrapes. */
export function phaseP50s(before: Buckets, after: Buckets): Array<[string, number, number]> {
  return phaseQuantiles(before, after, 0.5);
}

/** Per phase: quantile q (interpolated in its bucket, ms) and count of what was observed between two scrapes. */
export function phaseQuantiles(before: Buckets, after: Buckets, q: number): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const [phase, b] of after) {
    const prev = new Map(before.get(phase) ?? []);
    const diff = b.map(([le, c]) => [le, c - (prev.get(le) ?? 0)] as [number, number]);
    const total = diff.at(-1)?.[1] ?? 0;
    if (total <= 0) continue;
    let lo = 0;
    let below = 0;
    for (const [le, c] of diff) {
      if (c >= total * q) {
        const hi = Number.isFinite(le) ? le : lo;
        const inBucket = c - below;
        const p = inBucket > 0 ? lo + ((total * q - below) / inBucket) * (hi - lo) : hi;
        out.push([phase, p * 1000, total]);
        break;
      }
      lo = le;
      below = c;
    }
  }
  const order = ["schedule", "image", "volume", "boot", "init", "ready"];
  return out.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
}

export function splitLine(name: string, p: Array<[string, number, number]>): string {
  if (!p.length) return `${name} phases: none observed`;
  return `${name} phases (server metrics, p50 ms): ${p.map(([ph, ms, n]) => `${ph} ${ms.toFixed(0)} (n=${n})`).join(", ")}`;
}

/** Per phase: the mean (ms, from the histogram's sum and count) of what was observed between two scrapes. */
export function phaseMeans(before: string, after: string): Array<[string, number, number]> {
  const sums = (text: string) => {
    const out = new Map<string, { sum: number; count: number }>();
    for (const l of text.split("\n")) {
      const m = /^boxyard_box_create_phase_seconds_(sum|count)\{.*phase="([^"]+)".*\} (\S+)$/.exec(l);
      if (!m) continue;
      const e = out.get(m[2]!) ?? { sum: 0, count: 0 };
      e[m[1] as "sum" | "count"] = Number(m[3]);
      out.set(m[2]!, e);
    }
    return out;
  };
  const a = sums(before);
  const out: Array<[string, number, number]> = [];
  for (const [phase, e] of sums(after)) {
    const p = a.get(phase) ?? { sum: 0, count: 0 };
    const n = e.count - p.count;
    if (n > 0) out.push([phase, ((e.sum - p.sum) / n) * 1000, n]);
  }
  const order = ["schedule", "image", "volume", "boot", "init", "ready"];
  return out.sort((x, y) => order.indexOf(x[0]) - order.indexOf(y[0]));
}
