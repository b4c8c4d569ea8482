-- Calls the control plane makes into a node agent in another process (exec
-- today). The API replica that takes the request queues the command here and
-- waits; the node's agent, long-polling any replica, claims it, runs it and
-- posts the reply, which wakes the waiting replica (NOTIFY). Rows live only
-- as long as the call; expired ones are removed.

CREATE TABLE node_commands (
  id          text PRIMARY KEY,
  node_id     text NOT NULL REFERENCES nodes (id),
  kind        text NOT NULL CHECK (kind IN ('exec')),
  request     jsonb NOT NULL,
  reply       jsonb,
  error       jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  claimed_at  timestamptz,
  done_at     timestamptz,
  expires_at  timestamptz NOT NULL
);

CREATE INDEX node_commands_pending ON node_commands (node_id, created_at) WHERE claimed_at IS NULL;
