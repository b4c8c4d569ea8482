// A box's history on its page: state changes with their reasons and who did
// what, newest first (GET .../history), refreshed on every live state change
// the page sees, with older entries loaded on request.
import { boxHistory } from "@boxyard/contract";
import { type BoxHistoryEntryT, type BoxyardClient, historyLine } from "@boxyard/sdk";
import { useEffect, useState } from "react";
import { ErrorMessage, formatTime } from "./ui.tsx";

const PAGE = 20;

/** The API's order: newest first, state changes before actions at the same instant, then by id. */
function newestFirst(a: BoxHistoryEntryT, b: BoxHistoryEntryT): number {
  const n = (e: BoxHistoryEntryT) => Number(e.id.slice(1));
  // State changes and OOM kills are both box events ("s" ids); audit actions are "a".
  return b.at.localeCompare(a.at) || b.id[0]!.localeCompare(a.id[0]!) || n(b) - n(a);
}

export function BoxHistory(props: { api: BoxyardClient; org: string; box: string; refresh: number }) {
  const { api, org, box, refresh } = props;
  // Every entry loaded so far, by id: refreshes add the newest, "Load older" the rest.
  const [entries, setEntries] = useState<Map<string, BoxHistoryEntryT> | null>(null);
  // Where the oldest page loaded ended; set by the first load and by each older page.
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);

  const merge = (items: BoxHistoryEntryT[]) =>
    setEntries((m) => {
      const next = new Map(m ?? []);
      for (const e of items) next.set(e.id, e);
      return next;
    });

  useEffect(() => {
    setEntries(null);
    setCursor(undefined);
  }, [org, box]);

  useEffect(() => {
    let gone = false;
    api.call(boxHistory, { params: { org, box }, query: { limit: PAGE } }).then(
      (r) => {
        if (gone) return;
        merge(r.items);
        setCursor((c) => (c === undefined ? r.nextCursor : c));
        setError(null);
      },
      (err) => !gone && setError(err),
    );
    return () => {
      gone = true;
    };
  }, [api, org, box, refresh]);

  const loadOlder = async () => {
    if (!cursor) return;
    setLoadingOlder(true);
    try {
      const r = await api.call(boxHistory, { params: { org, box }, query: { limit: PAGE, cursor } });
      merge(r.items);
      setCursor(r.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingOlder(false);
    }
  };

  const list = [...(entries?.values() ?? [])].sort(newestFirst);
  return (
    <section className="panel" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <ErrorMessage error={error} />
      {entries === null && !error ? <p className="muted">Loading…</p> : null}
      {entries && list.length === 0 ? <p className="muted">Nothing recorded yet.</p> : null}
      <ol className="events" aria-live="off">
        {list.map((e) => {
          const line = historyLine(e);
          return (
            <li
              key={e.id}
              data-kind={e.kind}
              {...(e.kind === "state"
                ? { "data-to": e.to }
                : e.kind === "action"
                  ? { "data-action": e.action }
                  : {})}
            >
              <time dateTime={e.at}>{formatTime(e.at)}</time> <strong>{line.who}</strong>{" "}
              <span className={line.bad ? "reason bad" : "reason"}>{line.what}</span>
            </li>
          );
        })}
      </ol>
      {cursor ? (
        <button type="button" onClick={() => void loadOlder()} disabled={loadingOlder}>
          {loadingOlder ? "Loading…" : "Load older events"}
        </button>
      ) : null}
    </section>
  );
}
