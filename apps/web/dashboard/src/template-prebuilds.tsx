// A template's prebuilds (its repository checked out and its init commands
// run once, kept as the layer new boxes start from): the list, newest first,
// with each one's status (and why it failed), version, ref, commit, what
// queued it and who, age and duration; each one's log, followed live while it
// runs; and "Prebuild now" for org owners and admins (others are told why
// not). The list is read again while a prebuild is queued or building, so
// it turns ready or failed on the page without a reload.
import {
  createPrebuild,
  getPrebuild,
  getPrebuildLogs,
  listPrebuilds,
  type Prebuild,
} from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import type { Auth } from "./api.ts";
import { LiveLog } from "./live-log.tsx";
import { BuildBadge } from "./template-builds.tsx";
import { ErrorMessage, formatTime, timeAgo, useAnnouncer } from "./ui.tsx";

const DONE = new Set<Prebuild["status"]>(["ready", "failed"]);

/** A commit as people read it: its first 12 characters. */
export function shortCommit(commit: string): string {
  return commit.slice(0, 12);
}

/** Where a prebuild is shown: its template's page, with its log open. */
export function prebuildPath(org: string, template: string, id: string): string {
  return `/templates/${encodeURIComponent(template)}?org=${encodeURIComponent(org)}&prebuild=${encodeURIComponent(id)}`;
}

function logUrl(org: string, name: string, id: string): string {
  const e = encodeURIComponent;
  return `/api/v1/orgs/${e(org)}/templates/${e(name)}/prebuilds/${e(id)}/logs`;
}

function duration(p: Prebuild): string {
  if (p.elapsedSeconds !== null) return `${p.elapsedSeconds.toFixed(1)}\u00a0s`;
  return p.status === "queued" ? "waiting for a node" : p.status === "building" ? "running" : "–";
}

/** A template's newest prebuild in one cell (the templates list): its status, and its commit or why it failed. */
export function PrebuildSummary(props: { api: BoxyardClient; org: string; name: string }) {
  const { api, org, name } = props;
  const [newest, setNewest] = useState<Prebuild | null | undefined>(undefined);
  const load = useCallback(
    () =>
      api.call(listPrebuilds, { params: { org, name }, query: { limit: 1 } }).then(
        (r) => setNewest(r.items[0] ?? null),
        () => setNewest(null),
      ),
    [api, org, name],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const status = newest?.status;
  useEffect(() => {
    if (!status || DONE.has(status)) return;
    const t = setInterval(() => void load(), 1_500);
    return () => clearInterval(t);
  }, [status, load]);
  if (newest === undefined) return <span className="muted">…</span>;
  if (newest === null) return <span className="muted">none</span>;
  return (
    <span className="build-summary">
      <BuildBadge status={newest.status} /> <span className="muted">v{newest.version}</span>
      {newest.commit ? (
        <>
          {" "}
          <code title={newest.commit}>{shortCommit(newest.commit)}</code>
        </>
      ) : null}
      {newest.status === "failed" ? (
        <span className="reason bad build-reason">{newest.error ?? "no reason given"}</span>
      ) : null}
    </span>
  );
}

export function PrebuildsPanel(props: {
  api: BoxyardClient;
  auth: Auth;
  org: string;
  name: string;
  /** The template's versions, newest first (what "Prebuild now" offers). */
  versions: number[];
  /** Owners and admins may queue one (the server checks again). */
  canWrite: boolean;
  /** Why others may not, in one sentence. */
  writeNote: string;
  /** A prebuild to show first, its log open (from a box's page). */
  selected: string | null;
}) {
  const { api, auth, org, name, canWrite } = props;
  const [items, setItems] = useState<Prebuild[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(props.selected);
  /** The open prebuild when it is not among the newest listed. */
  const [extra, setExtra] = useState<Prebuild | null>(null);
  const [version, setVersion] = useState("");
  const [ref, setRef] = useState("");
  const [asking, setAsking] = useState(false);
  const [askError, setAskError] = useState<unknown>(null);
  const [live, announce] = useAnnouncer();
  const seen = useRef(new Map<string, Prebuild["status"]>());

  useEffect(() => setOpen(props.selected), [props.selected]);

  const load = useCallback(
    () =>
      api.call(listPrebuilds, { params: { org, name }, query: { limit: 50 } }).then(
        (r) => {
          setItems(r.items);
          setError(null);
        },
        (err) => setError(err),
      ),
    [api, org, name],
  );
  useEffect(() => {
    setItems(null);
    seen.current.clear();
    void load();
  }, [load]);

  // Say when a prebuild on the page ends (the badge alone is not heard).
  useEffect(() => {
    for (const p of items ?? []) {
      const before = seen.current.get(p.id);
      if (before && before !== p.status && DONE.has(p.status))
        announce(`Prebuild ${p.id} of ${name} v${p.version} is ${p.status}${p.error ? `: ${p.error}` : ""}`);
      seen.current.set(p.id, p.status);
    }
  }, [items, name, announce]);

  const running = (items ?? []).some((p) => !DONE.has(p.status));
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => void load(), 1_500);
    return () => clearInterval(t);
  }, [running, load]);

  const listed = items?.find((p) => p.id === open);
  useEffect(() => {
    if (!open || !items || items.some((p) => p.id === open)) return setExtra(null);
    api.call(getPrebuild, { params: { org, name, prebuild: open } }).then(setExtra, (err) => {
      setExtra(null);
      setError(err);
    });
  }, [api, org, name, open, items]);
  const shown = listed ?? (extra?.id === open ? extra : undefined);
  // Arriving from a box's page: bring the prebuild's log into view once.
  const scrolled = useRef(false);
  const shownId = shown?.id;
  useEffect(() => {
    if (!props.selected || scrolled.current || shownId !== props.selected) return;
    scrolled.current = true;
    document.getElementById(`prebuild-log-${shownId}`)?.scrollIntoView({ block: "nearest" });
  }, [props.selected, shownId]);

  const update = useCallback((p: Prebuild) => {
    setItems((list) => list?.map((x) => (x.id === p.id ? p : x)) ?? list);
    setExtra((x) => (x?.id === p.id ? p : x));
  }, []);

  const ask = async (e: FormEvent) => {
    e.preventDefault();
    setAsking(true);
    setAskError(null);
    try {
      const p = await api.call(createPrebuild, {
        params: { org, name },
        body: {
          ...(version ? { version: Number(version) } : {}),
          ...(ref.trim() ? { ref: ref.trim() } : {}),
        },
      });
      setItems((list) => [p, ...(list ?? []).filter((x) => x.id !== p.id)]);
      setOpen(p.id);
      announce(`Prebuild ${p.id} of ${name} v${p.version} is ${p.status}.`);
    } catch (err) {
      setAskError(err);
    } finally {
      setAsking(false);
    }
  };

  const latest = props.versions[0];
  return (
    <section className="panel prebuilds" aria-labelledby="prebuilds-title">
      <h2 id="prebuilds-title">Prebuilds</h2>
      {live}
      <p className="hint">
        A prebuild checks the template's repository out and runs its init commands once; new boxes start from
        the newest ready one and fetch only what changed since. A push queues one when the template has a
        repository or init commands.
      </p>
      {canWrite ? (
        <form className="inline-form" onSubmit={(e) => void ask(e)} aria-label={`Prebuild ${name} now`}>
          <label>
            <span>Version</span>
            <select value={version} onChange={(e) => setVersion(e.target.value)}>
              <option value="">{latest ? `Latest (v${latest})` : "Latest"}</option>
              {props.versions.map((v) => (
                <option key={v} value={String(v)}>
                  v{v}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>Ref</span>
            <input
              value={ref}
              onChange={(e) => setRef(e.target.value)}
              placeholder="the template's"
              autoComplete="off"
              spellCheck={false}
            />
          </label>
          <button type="submit" className="primary" disabled={asking}>
            {asking ? "Queueing…" : "Prebuild now"}
          </button>
          <ErrorMessage error={askError} onDismiss={() => setAskError(null)} />
        </form>
      ) : (
        <p className="hint">{props.writeNote}</p>
      )}
      <ErrorMessage error={error} />
      {!items ? (
        error ? null : (
          <p className="muted">Loading the prebuilds…</p>
        )
      ) : items.length === 0 ? (
        <p className="muted">No prebuilds yet: boxes of {name} start from its image alone.</p>
      ) : (
        <table className="cards prebuild-list">
          <caption className="visually-hidden">Prebuilds of {name}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Prebuild</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Commit</th>
              <th scope="col">Queued by</th>
              <th scope="col">Age</th>
              <th scope="col">Duration</th>
              <th scope="col">
                <span className="visually-hidden">Log</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id} data-prebuild={p.id} className={p.id === open ? "selected" : undefined}>
                <th scope="row" data-label="Prebuild">
                  <code>{p.id}</code>
                </th>
                <td data-label="Status">
                  <span className="build-summary">
                    <BuildBadge status={p.status} />
                    {p.status === "failed" ? (
                      <span className="reason bad build-reason" data-prebuild-error="">
                        {p.error ?? "no reason given"}
                      </span>
                    ) : null}
                  </span>
                </td>
                <td data-label="Version">
                  v{p.version}
                  {p.ref ? (
                    <>
                      {" "}
                      · <code>{p.ref}</code>
                    </>
                  ) : null}
                </td>
                <td data-label="Commit">
                  {p.commit ? (
                    <code title={p.commit}>{shortCommit(p.commit)}</code>
                  ) : (
                    <span className="muted">{p.status === "ready" ? "no repository" : "–"}</span>
                  )}
                </td>
                <td data-label="Queued by">
                  {p.trigger === "push" ? "push" : "request"}
                  {p.requestedBy ? ` by ${p.requestedBy}` : ""}
                </td>
                <td data-label="Age">
                  <time dateTime={p.createdAt} title={formatTime(p.createdAt)}>
                    {timeAgo(p.createdAt)} ago
                  </time>
                </td>
                <td data-label="Duration">{duration(p)}</td>
                <td data-label="Log">
                  <button
                    type="button"
                    className="link"
                    aria-expanded={p.id === open}
                    aria-controls={p.id === open ? `prebuild-log-${p.id}` : undefined}
                    onClick={() => setOpen((o) => (o === p.id ? null : p.id))}
                  >
                    {p.id === open ? "Hide log" : "Show log"}
                    <span className="visually-hidden"> of prebuild {p.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown ? (
        <LiveLog<Prebuild>
          key={shown.id}
          id={`prebuild-log-${shown.id}`}
          auth={auth}
          url={logUrl(org, name, shown.id)}
          load={() =>
            api.call(getPrebuildLogs, { params: { org, name, prebuild: shown.id }, query: { offset: 0 } })
          }
          done={DONE.has(shown.status)}
          title={`Log of prebuild ${shown.id} (v${shown.version}${shown.commit ? `, ${shortCommit(shown.commit)}` : ""})`}
          label={`Prebuild log of ${shown.id}`}
          finalStatus={<BuildBadge status={shown.status} />}
          waiting="Waiting for a node to start the prebuild…"
          onEnd={update}
        />
      ) : null}
    </section>
  );
}
