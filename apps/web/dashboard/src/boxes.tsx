// The boxes of an organisation, with live state: the list is read from the
// API and each box that is changing (and a few more) is followed over its
// event stream, so a state change shows without a reload.
import { createBox, getBox, getUsage, listBoxes, listTeams, listTemplates } from "@boxyard/contract";
import { boxIsSettling, type BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { type Access, canActOnBox, canReadUsage } from "./access.ts";
import { type Auth, type BoxT, followBox, type TemplateT } from "./api.ts";
import { BoxActions } from "./box-actions.tsx";
import { Link } from "./router.tsx";
import { ErrorMessage, PageTitle, StateBadge, timeAgo, useAnnouncer } from "./ui.tsx";

/** Browsers allow six connections per server; event streams keep to a few of them. */
const MAX_STREAMS = 4;
const POLL_MS = 15_000;

async function allBoxes(api: BoxyardClient, org: string): Promise<BoxT[]> {
  const out: BoxT[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await api.call(listBoxes, {
      params: { org },
      query: { limit: 200, ...(cursor ? { cursor } : {}) },
    });
    out.push(...res.items);
    if (!res.nextCursor) break;
    cursor = res.nextCursor;
  }
  return out.filter((b) => b.actualState !== "deleted");
}

/** The boxes list's state, kept live. */
export function useLiveBoxes(api: BoxyardClient, auth: Auth, org: string, announce: (t: string) => void) {
  const [boxes, setBoxes] = useState<BoxT[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const upsert = useCallback((box: BoxT) => {
    setBoxes((prev) => {
      const list = prev ?? [];
      if (box.actualState === "deleted") return list.filter((b) => b.id !== box.id);
      const i = list.findIndex((b) => b.id === box.id);
      if (i < 0) return [...list, box];
      const next = list.slice();
      next[i] = box;
      return next;
    });
  }, []);

  const reload = useCallback(async () => {
    try {
      setBoxes(await allBoxes(api, org));
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, [api, org]);

  useEffect(() => {
    setBoxes(null);
    void reload();
    const t = setInterval(() => void reload(), POLL_MS);
    return () => clearInterval(t);
  }, [reload]);

  // Follow the boxes that are changing first, then the newest others.
  const followed = useMemo(() => {
    const list = [...(boxes ?? [])].sort(
      (a, b) => Number(boxIsSettling(b)) - Number(boxIsSettling(a)) || b.updatedAt.localeCompare(a.updatedAt),
    );
    return list.slice(0, MAX_STREAMS).map((b) => b.name);
  }, [boxes]);
  const streams = useRef(new Map<string, AbortController>());
  const followKey = [...followed].sort().join(",");

  useEffect(() => {
    const want = new Set(followed);
    for (const [name, ctl] of streams.current) {
      if (!want.has(name)) {
        ctl.abort();
        streams.current.delete(name);
      }
    }
    for (const name of want) {
      if (streams.current.has(name)) continue;
      const ctl = new AbortController();
      streams.current.set(name, ctl);
      void followBox(
        auth,
        org,
        name,
        (ev) => {
          if (ev.kind === "state") return upsert(ev.box);
          if (ev.kind === "oom_kill") return announce(`${name}: ${ev.reason}`);
          const t = ev.transition;
          announce(`${name} is ${t.to}${t.reason ? ` (${t.reason})` : ""}`);
          setBoxes((prev) =>
            (prev ?? [])
              .map((b) => (b.name === name ? { ...b, actualState: t.to as BoxT["actualState"] } : b))
              .filter((b) => b.actualState !== "deleted"),
          );
          if (t.to !== "deleted") api.call(getBox, { params: { org, box: name } }).then(upsert, () => {});
        },
        ctl.signal,
      ).finally(() => {
        if (streams.current.get(name) === ctl) streams.current.delete(name);
      });
    }
  }, [followKey, api, auth, org, upsert, announce]);

  useEffect(
    () => () => {
      for (const ctl of streams.current.values()) ctl.abort();
      streams.current.clear();
    },
    [],
  );

  return { boxes, error, upsert, reload };
}

/** Cost so far this month per live box, where the caller may read the org's usage (owners, admins, auditors). */
function useBoxCosts(api: BoxyardClient, org: string, allowed: boolean) {
  const [costs, setCosts] = useState<{ byBox: Map<string, number>; format: (v: number) => string } | null>(
    null,
  );
  useEffect(() => {
    setCosts(null);
    if (!allowed) return;
    let gone = false;
    const load = () =>
      api.call(getUsage, { params: { org }, query: {} }).then(
        (u) => {
          if (gone) return;
          const money = new Intl.NumberFormat(undefined, { style: "currency", currency: u.currency });
          const byBox = new Map<string, number>();
          for (const b of u.boxes) if (!b.deleted) byBox.set(b.box, b.cost);
          setCosts({ byBox, format: (v) => money.format(v) });
        },
        () => !gone && setCosts(null),
      );
    void load();
    const t = setInterval(() => void load(), POLL_MS);
    return () => {
      gone = true;
      clearInterval(t);
    };
  }, [api, org, allowed]);
  return costs;
}

export function BoxesPage(props: { api: BoxyardClient; auth: Auth; access: Access; org: string }) {
  const { api, auth, org } = props;
  const [live, announce] = useAnnouncer();
  const { boxes, error, upsert } = useLiveBoxes(api, auth, org, announce);
  const [creating, setCreating] = useState(false);
  const costs = useBoxCosts(api, org, canReadUsage(props.access));

  return (
    <>
      <div className="page-head">
        <PageTitle>Boxes</PageTitle>
        <button
          type="button"
          className="primary"
          aria-expanded={creating}
          aria-controls="create-box"
          onClick={() => setCreating((c) => !c)}
        >
          {creating ? "Close" : "New box"}
        </button>
      </div>
      {live}
      {creating ? (
        <CreateBoxForm
          api={api}
          org={org}
          onCreated={(box) => {
            upsert(box);
            announce(`${box.name} created; it is ${box.actualState}`);
            setCreating(false);
          }}
        />
      ) : null}
      <ErrorMessage error={error} />
      {boxes === null ? (
        <p className="muted">Loading boxes…</p>
      ) : boxes.length === 0 ? (
        <p className="empty">
          No boxes in {org} yet. Press <strong>New box</strong> to make one from a template.
        </p>
      ) : (
        <table className="boxes cards">
          <caption className="visually-hidden">Boxes in {org}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Template</th>
              <th scope="col">Owner</th>
              <th scope="col">Node</th>
              <th scope="col">Age</th>
              {costs ? (
                <th scope="col">
                  Cost <span className="muted">(this month)</span>
                </th>
              ) : null}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {boxes.map((b) => (
              <tr key={b.id} data-box={b.name}>
                <th scope="row" data-label="Name">
                  <Link to={`/boxes/${b.org}/${b.name}`}>{b.name}</Link>
                  {b.team ? <span className="muted"> · team {b.team}</span> : null}
                </th>
                <td data-label="State">
                  <StateBadge box={b} />
                  {b.lastError ? (
                    <span className="error-inline" title={b.lastError.message}>
                      {" "}
                      {b.lastError.message}
                    </span>
                  ) : null}
                </td>
                <td data-label="Template">
                  {b.template} v{b.templateVersion}
                </td>
                <td data-label="Owner">{b.owner}</td>
                <td data-label="Node">{b.node ?? "–"}</td>
                <td data-label="Age">{timeAgo(b.createdAt)}</td>
                {costs ? (
                  <td data-label="Cost" className="num">
                    {costs.byBox.has(b.name) ? costs.format(costs.byBox.get(b.name)!) : "–"}
                  </td>
                ) : null}
                <td data-label="Actions">
                  <div className="row-actions">
                    {b.actualState === "running" && canActOnBox(props.access, b) ? (
                      <a
                        href={`/boxes/${b.org}/${b.name}/terminal`}
                        aria-label={`Open terminal in ${b.name}`}
                      >
                        Terminal
                      </a>
                    ) : null}
                    {canActOnBox(props.access, b) ? (
                      <BoxActions api={api} box={b} onChanged={upsert} />
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function CreateBoxForm(props: { api: BoxyardClient; org: string; onCreated: (box: BoxT) => void }) {
  const { api, org } = props;
  const [templates, setTemplates] = useState<TemplateT[]>([]);
  const [teams, setTeams] = useState<string[]>([]);
  const [template, setTemplate] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.call(listTemplates, { params: { org } }).then(
      (r) => {
        setTemplates(r.items);
        setTemplate((t) => t || (r.items.find((i) => i.name === "busybox") ?? r.items[0])?.name || "");
      },
      (err) => setError(err),
    );
    // Members who may not list teams simply get no team choice.
    api.call(listTeams, { params: { org } }).then(
      (r) => setTeams(r.items.map((t) => t.name)),
      () => setTeams([]),
    );
  }, [api, org]);

  const chosen = templates.find((t) => t.name === template);
  const defaults = chosen?.spec.resources ?? {};

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const num = (k: string) => {
      const v = String(f.get(k) ?? "").trim();
      return v === "" ? undefined : Number(v);
    };
    const resources = { cpu: num("cpu"), memoryMiB: num("memoryMiB"), diskGiB: num("diskGiB") };
    const team = String(f.get("team") ?? "");
    setBusy(true);
    setError(null);
    try {
      const res = await api.call(createBox, {
        params: { org },
        idempotencyKey: crypto.randomUUID(),
        body: {
          name: String(f.get("name") ?? "").trim(),
          template,
          ...(team ? { team } : {}),
          ...(f.get("persistent") ? { persistent: true } : {}),
          ...(Object.values(resources).some((v) => v !== undefined)
            ? {
                resources: Object.fromEntries(Object.entries(resources).filter(([, v]) => v !== undefined)),
              }
            : {}),
        },
      });
      props.onCreated(res.box);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form id="create-box" className="panel create-box" onSubmit={submit} aria-labelledby="create-box-title">
      <h2 id="create-box-title">New box</h2>
      <div className="fields">
        <label>
          Name
          <input
            name="name"
            required
            pattern="[a-z0-9][a-z0-9\-]{0,62}"
            title="lower-case letters, digits and dashes"
            autoComplete="off"
            placeholder="web"
          />
        </label>
        <label>
          Template
          <select name="template" value={template} onChange={(e) => setTemplate(e.target.value)} required>
            {templates.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name} (v{t.version}){t.builtIn ? " · built in" : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          Team
          <select name="team" defaultValue="">
            <option value="">No team (your own box)</option>
            {teams.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          CPUs
          <input
            name="cpu"
            type="number"
            min={0.25}
            max={64}
            step={0.25}
            placeholder={String(defaults.cpu ?? "")}
          />
        </label>
        <label>
          Memory (MiB)
          <input
            name="memoryMiB"
            type="number"
            min={128}
            max={262144}
            step={128}
            placeholder={String(defaults.memoryMiB ?? "")}
          />
        </label>
        <label>
          Disk (GiB)
          <input
            name="diskGiB"
            type="number"
            min={1}
            max={2048}
            placeholder={String(defaults.diskGiB ?? "")}
          />
        </label>
        <label className="check">
          <input name="persistent" type="checkbox" /> Persistent (kept through node loss)
        </label>
      </div>
      <p className="hint">Empty sizes take the template's. The box starts as soon as it is created.</p>
      <ErrorMessage error={error} />
      <button type="submit" className="primary" disabled={busy || !template}>
        {busy ? "Creating…" : "Create box"}
      </button>
    </form>
  );
}
