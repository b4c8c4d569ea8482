// Start, stop, pause, resume and delete (after a confirmation) for one box.
import { deleteBox, pauseBox, resumeBox, startBox, stopBox } from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { useState } from "react";
import type { BoxT } from "./api.ts";
import { ConfirmDialog, ErrorMessage } from "./ui.tsx";

type Verb = "start" | "stop" | "pause" | "resume";

/** What a person can ask of a box, from what was last asked of it. */
export function verbsFor(box: Pick<BoxT, "desiredState" | "actualState">): Verb[] {
  switch (box.desiredState) {
    case "running":
      return box.actualState === "failed" ? ["start", "stop"] : ["pause", "stop"];
    case "paused":
      return ["resume", "stop"];
    case "stopped":
      return ["start"];
    default:
      return [];
  }
}

const LABEL: Record<Verb, string> = { start: "Start", stop: "Stop", pause: "Pause", resume: "Resume" };

export function BoxActions(props: {
  api: BoxyardClient;
  box: BoxT;
  onChanged: (box: BoxT) => void;
  onDeleted?: (box: BoxT) => void;
}) {
  const { api, box } = props;
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  const params = { org: box.org, box: box.name };

  const act = async (verb: Verb | "delete") => {
    setBusy(verb);
    setError(null);
    try {
      const res =
        verb === "start"
          ? await api.call(startBox, { params })
          : verb === "stop"
            ? await api.call(stopBox, { params })
            : verb === "pause"
              ? await api.call(pauseBox, { params, body: { mode: "hot" } })
              : verb === "resume"
                ? await api.call(resumeBox, { params })
                : await api.call(deleteBox, { params });
      props.onChanged(res.box);
      if (verb === "delete") props.onDeleted?.(res.box);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  if (box.desiredState === "deleted") return <span className="muted">Deleting…</span>;
  return (
    <div className="box-actions">
      {verbsFor(box).map((verb) => (
        <button
          key={verb}
          type="button"
          disabled={busy !== null}
          aria-label={`${LABEL[verb]} ${box.name}`}
          onClick={() => void act(verb)}
        >
          {busy === verb ? `${LABEL[verb]}…` : LABEL[verb]}
        </button>
      ))}
      <button
        type="button"
        className="danger"
        disabled={busy !== null}
        aria-label={`Delete ${box.name}`}
        onClick={() => setConfirming(true)}
      >
        Delete
      </button>
      <ConfirmDialog
        open={confirming}
        title={`Delete ${box.name}?`}
        confirmLabel={`Delete ${box.name}`}
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          void act("delete");
        }}
      >
        <p>
          The box and everything it holds go: its home directory, /workspace and any changes to its file
          system. This cannot be undone. The name can be used again afterwards.
        </p>
      </ConfirmDialog>
      <ErrorMessage error={error} onDismiss={() => setError(null)} />
    </div>
  );
}
