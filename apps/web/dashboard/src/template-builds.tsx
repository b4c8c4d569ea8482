// A template version's image build: its status as a badge (with the reason
// when it failed), its log (followed live as Server-Sent Events while the
// build is queued or building, the same way box pages follow box events),
// and "Retry build" for a failed build (org owners and admins; the server
// refuses others and its message is shown).
import {
  getTemplateBuild,
  getTemplateBuildLogs,
  retryTemplateBuild,
  type TemplateBuild,
} from "@boxyard/contract";
import { ApiError, type BoxyardClient, readSse } from "@boxyard/sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { type Auth, authHeaders } from "./api.ts";
import { ErrorMessage, formatTime } from "./ui.tsx";

export type BuildStatus = TemplateBuild["status"];

const DONE = new Set<BuildStatus>(["ready", "failed"]);
const TONE: Record<BuildStatus, string> = {
  queued: "busy",
  building: "busy",
  ready: "running",
  failed: "bad",
};

export function BuildBadge(props: { status: BuildStatus }) {
  return (
    <span className={`badge badge-${TONE[props.status]}`} data-build={props.status}>
      {props.status}
    </span>
  );
}

/** The build of one version; polled while it is queued or building. */
export function useBuild(api: BoxyardClient, org: string, name: string, version: number) {
  const [build, setBuild] = useState<TemplateBuild | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  const load = useCallback(
    () =>
      api.call(getTemplateBuild, { params: { org, name, version } }).then(
        (b) => {
          setBuild(b);
          setError(null);
        },
        (err) => {
          if (err instanceof ApiError && err.status === 404) setMissing(true);
          else setError(err);
        },
      ),
    [api, org, name, version],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const status = build?.status;
  useEffect(() => {
    if (!status || DONE.has(status)) return;
    const t = setInterval(() => void load(), 1_500);
    return () => clearInterval(t);
  }, [status, load]);
  return { build, setBuild, error, missing };
}

/** Why a build failed, in one line. */
export function BuildReason(props: { build: TemplateBuild }) {
  if (props.build.status !== "failed") return null;
  return (
    <span className="reason bad build-reason" data-build-reason="">
      {props.build.error ?? "no reason given"}
    </span>
  );
}

/** The status badge of a version's build and, when it failed, why (the templates list). */
export function BuildSummary(props: { api: BoxyardClient; org: string; name: string; version: number }) {
  const { build, missing } = useBuild(props.api, props.org, props.name, props.version);
  if (missing) return <span className="muted">–</span>;
  if (!build) return <span className="muted">…</span>;
  return (
    <span className="build-summary">
      <BuildBadge status={build.status} /> <BuildReason build={build} />
    </span>
  );
}

function timings(b: TemplateBuild): string {
  const parts = [`queued ${formatTime(b.createdAt)}`];
  if (b.startedAt) parts.push(`started ${formatTime(b.startedAt)}`);
  if (b.finishedAt) parts.push(`finished ${formatTime(b.finishedAt)}`);
  if (b.elapsedSeconds !== null) parts.push(`${b.elapsedSeconds.toFixed(1)}\u00a0s`);
  if (b.node) parts.push(`on ${b.node}`);
  if (b.attempts > 1) parts.push(`attempt ${b.attempts}`);
  if (b.cacheHit) parts.push("cache hit: nothing was rebuilt");
  return parts.join(" · ");
}

/** A version's build on the versions page: status, timings, retry and the log. */
export function BuildPanel(props: {
  api: BoxyardClient;
  auth: Auth;
  org: string;
  name: string;
  version: number;
  canWrite: boolean;
}) {
  const { api, auth, org, name, version, canWrite } = props;
  const { build, setBuild, error, missing } = useBuild(api, org, name, version);
  const [showLog, setShowLog] = useState(false);
  const [retryError, setRetryError] = useState<unknown>(null);
  const [retrying, setRetrying] = useState(false);
  // A retry starts the log panel over, following the new attempt.
  const [attempt, setAttempt] = useState(0);
  const label = `${name} v${version}`;
  const logId = `build-log-${name}-${version}`;

  if (missing) return <p className="muted">No image build: this template's image comes with the server.</p>;
  if (!build)
    return (
      <>
        <ErrorMessage error={error} />
        {error ? null : <p className="muted">Loading the build…</p>}
      </>
    );

  const retry = async () => {
    setRetrying(true);
    setRetryError(null);
    try {
      setBuild(await api.call(retryTemplateBuild, { params: { org, name, version } }));
      setAttempt((a) => a + 1);
      setShowLog(true);
    } catch (err) {
      setRetryError(err);
    } finally {
      setRetrying(false);
    }
  };

  return (
    <div className="build" data-build-version={version}>
      <p className="build-status">
        <span>Image build:</span> <BuildBadge status={build.status} /> <BuildReason build={build} />
      </p>
      <p className="hint build-timings">{timings(build)}</p>
      <div className="toolbar">
        <button
          type="button"
          aria-expanded={showLog}
          aria-controls={showLog ? logId : undefined}
          onClick={() => setShowLog((s) => !s)}
        >
          {showLog ? `Hide build log of ${label}` : `Show build log of ${label}`}
        </button>
        {build.status === "failed" && canWrite ? (
          <button type="button" className="primary" disabled={retrying} onClick={() => void retry()}>
            {retrying ? "Retrying…" : `Retry build of ${label}`}
          </button>
        ) : null}
        {build.status === "failed" && !canWrite ? (
          <span className="hint">Org owners and admins can retry a failed build.</span>
        ) : null}
      </div>
      <ErrorMessage error={retryError} onDismiss={() => setRetryError(null)} />
      {showLog ? (
        <BuildLog
          key={attempt}
          id={logId}
          auth={auth}
          api={api}
          org={org}
          name={name}
          version={version}
          build={build}
          onEnd={setBuild}
        />
      ) : null}
    </div>
  );
}

function logUrl(org: string, name: string, version: number, query: string): string {
  const e = encodeURIComponent;
  return `/api/v1/orgs/${e(org)}/templates/${e(name)}/versions/${version}/build/logs?${query}`;
}

/**
 * The build's log: the text so far, then, while the build is queued or
 * building, each piece as it is written (follow=1 SSE, reconnecting from the
 * last offset after a dropped connection) until the `end` event with the
 * final build.
 */
function BuildLog(props: {
  id: string;
  auth: Auth;
  api: BoxyardClient;
  org: string;
  name: string;
  version: number;
  build: TemplateBuild;
  onEnd: (b: TemplateBuild) => void;
}) {
  const { id, auth, api, org, name, version, onEnd } = props;
  const [text, setText] = useState("");
  const [following, setFollowing] = useState(!DONE.has(props.build.status));
  const [error, setError] = useState<unknown>(null);
  const startDone = DONE.has(props.build.status);
  const pre = useRef<HTMLPreElement>(null);
  // While following, the newest lines stay in view.
  useEffect(() => {
    if (following && text && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [following, text]);

  useEffect(() => {
    const ctl = new AbortController();
    setText("");
    setError(null);
    if (startDone) {
      setFollowing(false);
      api.call(getTemplateBuildLogs, { params: { org, name, version }, query: { offset: 0 } }).then(
        (t) => setText(t),
        (err) => setError(err),
      );
      return () => ctl.abort();
    }
    setFollowing(true);
    void (async () => {
      let offset = 0;
      for (let attempt = 0; !ctl.signal.aborted; attempt++) {
        try {
          const res = await fetch(logUrl(org, name, version, `follow=1&offset=${offset}`), {
            headers: { accept: "text/event-stream", ...authHeaders(auth) },
            credentials: "same-origin",
            signal: ctl.signal,
          });
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          attempt = 0;
          for await (const ev of readSse(res.body)) {
            if (ev.event === "log") {
              const d = JSON.parse(ev.data) as { offset: number; text: string };
              offset = d.offset + d.text.length;
              setText((t) => t + d.text);
            } else if (ev.event === "end") {
              onEnd(JSON.parse(ev.data) as TemplateBuild);
              setFollowing(false);
              return;
            }
          }
        } catch (err) {
          if (ctl.signal.aborted) return;
          if (attempt > 3) setError(err);
        }
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5))));
      }
    })();
    return () => ctl.abort();
  }, [api, auth, org, name, version, startDone, onEnd]);

  return (
    <section className="build-log-panel" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        Build log{" "}
        {following ? (
          <span className="muted">(following live)</span>
        ) : (
          <>
            <span className="muted">· final status</span> <BuildBadge status={props.build.status} />
          </>
        )}
      </h3>
      <ErrorMessage error={error} />
      <pre
        ref={pre}
        id={id}
        className="build-log"
        role="log"
        aria-label={`Build log of ${name} v${version}`}
        aria-live={following ? "polite" : "off"}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls; the keyboard must reach it
        tabIndex={0}
      >
        {text || (following ? "Waiting for the build to start…" : "The log is empty.")}
      </pre>
    </section>
  );
}
