// Small shared pieces: headings that take focus on navigation, error and
// status messages, state badges, the confirmation dialog, a data loader.
import { boxStateLabel } from "@boxyard/sdk";
import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";
import { type BoxT, errorText } from "./api.ts";

/** The page's h1; it takes focus when the page changes so screen readers announce it. */
export function PageTitle(props: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {props.children}
    </h1>
  );
}

export function ErrorMessage(props: { error: unknown; onDismiss?: () => void }) {
  if (!props.error) return null;
  return (
    <div className="error" role="alert">
      <span>{errorText(props.error)}</span>
      {props.onDismiss ? (
        <button type="button" className="link" onClick={props.onDismiss}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}

const STABLE = new Set(["running", "stopped", "paused", "deleted"]);

export function StateBadge(props: { box: Pick<BoxT, "actualState" | "desiredState"> }) {
  const { actualState } = props.box;
  const tone = actualState === "failed" ? "bad" : STABLE.has(actualState) ? actualState : "busy";
  return (
    <span className={`badge badge-${tone}`} data-state={actualState}>
      {boxStateLabel(props.box)}
    </span>
  );
}

export function timeAgo(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** Loads data once and on demand; keeps the last good value while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      setData(await load());
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  }, deps);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** A modal confirmation built on <dialog>: focus stays inside, Escape cancels. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A polite live region: what changed, for people who cannot see the badge change. */
export function useAnnouncer(): [ReactNode, (text: string) => void] {
  const [text, setText] = useState("");
  const node = (
    <div className="visually-hidden" role="status" aria-live="polite">
      {text}
    </div>
  );
  return [node, setText];
}
