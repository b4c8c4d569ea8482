// One box: its state (live), its repository and prebuild, what persists and when it auto-stops (the same
// words as `boxyard show`), the terminal, its ports with preview links and
// sharing, and its history (state changes with reasons, who did what).
import { getBox } from "@boxyard/contract";
import { ApiError, type BoxyardClient, boxErrorLine, explainBox } from "@boxyard/sdk";
import { useEffect, useState } from "react";
import { type Access, canActOnBox, roleNote } from "./access.ts";
import { type Auth, type BoxT, followBox } from "./api.ts";
import { BoxActions } from "./box-actions.tsx";
import { BoxHistory } from "./box-history.tsx";
import { BoxPorts } from "./box-ports.tsx";
import { BoxSource } from "./box-source.tsx";
import { Link, navigate } from "./router.tsx";
import { ErrorMessage, formatTime, PageTitle, StateBadge, timeAgo, useAnnouncer } from "./ui.tsx";

export function BoxDetailPage(props: {
  api: BoxyardClient;
  auth: Auth;
  access: Access;
  org: string;
  name: string;
}) {
  const { api, auth, org, name } = props;
  const [box, setBox] = useState<BoxT | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // Bumped on each live state change, so the history reads its newest entries again.
  const [changes, setChanges] = useState(0);
  const [live, announce] = useAnnouncer();

  useEffect(() => {
    setBox(null);
    setGone(false);
    api.call(getBox, { params: { org, box: name } }).then(setBox, (err) => {
      if (err instanceof ApiError && err.status === 404) setGone(true);
      else setError(err);
    });
    const ctl = new AbortController();
    void followBox(
      auth,
      org,
      name,
      (ev) => {
        if (ev.kind === "state") {
          setBox(ev.box);
          return;
        }
        if (ev.kind === "oom_kill") {
          setChanges((c) => c + 1);
          announce(`${name}: ${ev.reason}`);
          return;
        }
        const t = ev.transition;
        setChanges((c) => c + 1);
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
  const mayAct = canActOnBox(props.access, box);
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
      {box.notice ? (
        <p className="box-notice" data-box-notice="">
          <strong>Note:</strong> {box.notice}
        </p>
      ) : null}
      <div className="toolbar">
        {!mayAct ? null : running ? (
          <a className="button primary" href={`/boxes/${box.org}/${box.name}/terminal`}>
            Open terminal
          </a>
        ) : (
          <span className="muted">The terminal opens once the box is running.</span>
        )}
        {mayAct ? (
          <BoxActions
            api={api}
            box={box}
            onChanged={(b) => {
              setBox(b);
              setChanges((c) => c + 1);
            }}
            onDeleted={() => {
              navigate("/boxes");
            }}
          />
        ) : (
          <span className="hint">
            {roleNote(
              props.access,
              "open its terminal, start, stop or delete it",
              "its owner and the org's owners and admins",
            )}
          </span>
        )}
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

        <BoxSource box={box} />

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

        <BoxPorts
          api={api}
          box={box}
          canShare={mayAct}
          shareNote={roleNote(
            props.access,
            "share this box's ports",
            "its owner and the org's owners and admins",
          )}
          onShared={() => setChanges((c) => c + 1)}
        />

        <BoxHistory api={api} org={org} box={name} refresh={changes} />
      </div>
    </>
  );
}
