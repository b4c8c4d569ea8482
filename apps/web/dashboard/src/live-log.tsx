// A job's log (a template version's image build, a prebuild): the text so
// far, then, while the job is queued or running, each piece as it is written
// (follow=1 Server-Sent Events: `log` events, reconnecting from the last
// offset after a dropped connection) until the `end` event with the job as
// it ended.
import { readSse } from "@boxyard/sdk";
import { type ReactNode, useEffect, useRef, useState } from "react";
import { type Auth, authHeaders } from "./api.ts";
import { ErrorMessage } from "./ui.tsx";

export function LiveLog<T>(props: {
  /** The <pre>'s id (a toggle button's aria-controls). */
  id: string;
  auth: Auth;
  /** The log's URL without a query: `?follow=1&offset=N` is added to follow it. */
  url: string;
  /** The whole log at once, for a job that has ended. */
  load: () => Promise<string>;
  /** Whether the job had ended when the log was opened (then it is read once, not followed). */
  done: boolean;
  /** The panel's heading, e.g. "Build log". */
  title: string;
  /** The log's accessible name, e.g. "Build log of app v1". */
  label: string;
  /** Shown after the heading once the job has ended (its final status). */
  finalStatus: ReactNode;
  waiting: string;
  onEnd: (job: T) => void;
}) {
  const { id, auth, url, done, onEnd } = props;
  const [text, setText] = useState("");
  const [following, setFollowing] = useState(!done);
  const [error, setError] = useState<unknown>(null);
  const pre = useRef<HTMLPreElement>(null);
  // The callbacks may change on every render of the parent; the stream must not restart for that.
  const loadRef = useRef(props.load);
  loadRef.current = props.load;
  const endRef = useRef(onEnd);
  endRef.current = onEnd;
  // While following, the newest lines stay in view.
  useEffect(() => {
    if (following && text && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [following, text]);

  useEffect(() => {
    const ctl = new AbortController();
    setText("");
    setError(null);
    if (done) {
      setFollowing(false);
      loadRef.current().then(
        (t) => {
          if (!ctl.signal.aborted) setText(t);
        },
        (err) => {
          if (!ctl.signal.aborted) setError(err);
        },
      );
      return () => ctl.abort();
    }
    setFollowing(true);
    void (async () => {
      let offset = 0;
      for (let attempt = 0; !ctl.signal.aborted; attempt++) {
        try {
          const res = await fetch(`${url}?follow=1&offset=${offset}`, {
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
              endRef.current(JSON.parse(ev.data) as T);
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
  }, [auth, url, done]);

  return (
    <section className="build-log-panel" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        {props.title}{" "}
        {following ? (
          <span className="muted">(following live)</span>
        ) : (
          <>
            <span className="muted">· final status</span> {props.finalStatus}
          </>
        )}
      </h3>
      <ErrorMessage error={error} />
      <pre
        ref={pre}
        id={id}
        className="build-log"
        role="log"
        aria-label={props.label}
        aria-live={following ? "polite" : "off"}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls; the keyboard must reach it
        tabIndex={0}
      >
        {text || (following ? props.waiting : "The log is empty.")}
      </pre>
    </section>
  );
}
