// One box: its state (live), what persists and when it auto-stops (the same
// words as `boxyard show`), the terminal, its ports with preview links and
// the state changes seen while this page is open, with their reasons.
import { getBox, listBoxPorts } from "@boxyard/contract";
import { ApiError, type BoxyardClient, boxErrorLine, explainBox } from "@boxyard/sdk";
import { useEffect, useState } from "react";
import { type Auth, type BoxT, type BoxTransition, followBox, type PortT } from "./api.ts";
import { BoxActions } from "./box-actions.tsx";
import { Link, navigate } from "./router.tsx";
import { ErrorMessage, formatTime, PageTitle, StateBadge, timeAgo, useAnnouncer } from "./ui.tsx";

interface SeenEvent extends BoxTransition {
  key: number;
}

export function BoxDetailPage(props: { api: BoxyardClient; auth: Auth; org: string; name: string }) {
  const { api, auth, org, name } = props;
  const [box, setBox] = useState<BoxT | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [events, setEvents] = useState<SeenEvent[]>([]);
  const [ports, setPorts] = useState<PortT[] | null>(null);
  const [live, announce] = useAnnouncer();

  useEffect(() => {
    setBox(null);
    setEvents([]);
    setGone(false);
    api.call(getBox, { params: { org, box: name } }).then(setBox, (err) => {
      if (err instanceof ApiError && err.status === 404) setGone(true);
      else setError(err);
    });
    const ctl = new AbortController();
    let n = 0;
    void followBox(
      auth,
      org,
      name,
      (ev) => {
        if (ev.kind === "state") {
          setBox(ev.box);
          const reason = (ev.box as BoxT & { reason?: string }).reason ?? "current state";
          setEvents((prev) =>
            prev.length > 0
              ? prev
              : [{ key: n++, from: "", to: ev.box.actualState, reason, at: ev.box.updatedAt }],
          );
          return;
        }
        const t = ev.transition;
        setEvents((prev) => [{ ...t, key: n++ }, ...prev].slice(0, 50));
        announce(`${name} is ${t.to}${t.reason ? `: ${t.reason}` : ""}`);
        if (t.to === "deleted") {
          setGone(true);
          return;
        }
        setBox((b) => (b ? { ...b, actualState: t.to as BoxT["actualState"] } : b));
        api.call(getBox, { params: { org, box: name } }).then(setBox, () => {});
      },
      ctl.signal,
    );
    return () => ctl.abort();
  }, [api, auth, org, name, announce]);

  const running = box?.actualState === "running";
  useEffect(() => {
    if (!running) return;
    api.call(listBoxPorts, { params: { org, box: name } }).then(
      (r) => setPorts(r.items),
      () => setPorts([]),
    );
  }, [api, org, name, running]);

  if (gone)
    return (
      <>
        <PageTitle>{name}</PageTitle>
        {live}
        <p>
          This box does not exist (any more). <Link to="/boxes">Back to the boxes</Link>
        </p>
      </>
    );
  if (!box)
    return (
      <>
        <PageTitle>{name}</PageTitle>
        <ErrorMessage error={error} />
        {error ? null : <p className="muted">Loading…</p>}
      </>
    );

  const explained = explainBox(box, { resume: "Resume" });
  const errLine = boxErrorLine(box);
  return (
    <>
      <p className="crumbs">
        <Link to="/boxes">Boxes</Link> / {box.name}
      </p>
      <div className="page-head">
        <PageTitle>{box.name}</PageTitle>
        <StateBadge box={box} />
      </div>
      {live}
      {errLine ? (
        <div className="error" role="alert">
          Last error ({box.lastError?.code}): {errLine}
        </div>
      ) : null}
      <div className="toolbar">
        {running ? (
          <a className="button primary" href={`/boxes/${box.org}/${box.name}/terminal`}>
            Open terminal
          </a>
        ) : (
          <span className="muted">The terminal opens once the box is running.</span>
        )}
        <BoxActions
          api={api}
          box={box}
          onChanged={setBox}
          onDeleted={() => {
            navigate("/boxes");
          }}
        />
      </div>

      <div className="grid">
        <section className="panel" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <dl className="details">
            <dt>Template</dt>
            <dd>
              {box.template} v{box.templateVersion}
            </dd>
            <dt>Owner</dt>
            <dd>{box.owner}</dd>
            <dt>Team</dt>
            <dd>{box.team ?? "–"}</dd>
            <dt>Node</dt>
            <dd>{box.node ?? "–"}</dd>
            <dt>Resources</dt>
            <dd>
              {box.resources.cpu} CPU, {box.resources.memoryMiB} MiB memory, {box.resources.diskGiB} GiB disk
              {box.resources.gpus ? `, ${box.resources.gpus} GPU` : ""}
            </dd>
            <dt>Created</dt>
            <dd>
              {formatTime(box.createdAt)} ({timeAgo(box.createdAt)} ago)
            </dd>
          </dl>
        </section>

        <section className="panel" aria-labelledby="persists-title">
          <h2 id="persists-title">What persists</h2>
          {explained.persists.map((s) => (
            <p key={s}>{s}</p>
          ))}
          <h3>Auto-pause and auto-stop</h3>
          {explained.autoStop.map((s) => (
            <p key={s}>{s}</p>
          ))}
        </section>

        <section className="panel" aria-labelledby="ports-title">
          <h2 id="ports-title">Ports</h2>
          {!running ? (
            <p className="muted">Ports are listed while the box is running.</p>
          ) : ports === null ? (
            <p className="muted">Loading…</p>
          ) : ports.length === 0 ? (
            <p className="muted">
              No ports are shared. <code>boxyard ports share {box.name} PORT</code> shares one.
            </p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Port</th>
                  <th scope="col">Label</th>
                  <th scope="col">Visible to</th>
                  <th scope="col">Preview</th>
                </tr>
              </thead>
              <tbody>
                {ports.map((p) => (
                  <tr key={p.port}>
                    <td>{p.port}</td>
                    <td>{p.label || "–"}</td>
                    <td>{p.visibility}</td>
                    <td>
                      <a href={p.previewPath} target="_blank" rel="noopener noreferrer">
                        Open preview of port {p.port}
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section className="panel" aria-labelledby="events-title">
          <h2 id="events-title">Recent events</h2>
          <ol className="events" aria-live="off">
            {events.map((e) => (
              <li key={e.key} data-to={e.to}>
                <time dateTime={e.at}>{formatTime(e.at)}</time>{" "}
                <strong>{e.from ? `${e.from} → ${e.to}` : e.to}</strong>
                {e.reason ? (
                  <span className={e.to === "failed" ? "reason bad" : "reason"}> {e.reason}</span>
                ) : null}
              </li>
            ))}
          </ol>
          <p className="hint">Changes are shown live while this page is open.</p>
        </section>
      </div>
    </>
  );
}
