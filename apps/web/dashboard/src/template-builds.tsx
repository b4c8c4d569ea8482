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
import { ApiError, type BoxyardClient } from "@boxyard/sdk";
import { useCallback, useEffect, useState } from "react";
import type { Auth } from "./api.ts";
import { LiveLog } from "./live-log.tsx";
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
        <LiveLog<TemplateBuild>
          key={attempt}
          id={logId}
          auth={auth}
          url={logUrl(org, name, version)}
          load={() =>
            api.call(getTemplateBuildLogs, { params: { org, name, version }, query: { offset: 0 } })
          }
          done={DONE.has(build.status)}
          title="Build log"
          label={`Build log of ${label}`}
          finalStatus={<BuildBadge status={build.status} />}
          waiting="Waiting for the build to start…"
          onEnd={setBuild}
        />
      ) : null}
    </div>
  );
}

function logUrl(org: string, name: string, version: number): string {
  const e = encodeURIComponent;
  return `/api/v1/orgs/${e(org)}/templates/${e(name)}/versions/${version}/build/logs`;
}
