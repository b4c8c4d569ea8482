-- Boxes and their lifecycle: desired and actual state, the reconcile work
-- queue (lease columns on the box row), nodes and their desired-set version,
-- async operations, the state-change event log and idempotency keys.

CREATE SEQUENCE node_desired_seq;

CREATE TABLE nodes (
  id                 text PRIMARY KEY,
  name               text NOT NULL UNIQUE,
  runtime            text NOT NULL,
  capacity           jsonb NOT NULL,
  labels             jsonb NOT NULL DEFAULT '{}',
  cached_images      jsonb NOT NULL DEFAULT '[]',
  agent_version      text NOT NULL DEFAULT '',
  status             text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'unhealthy', 'draining')),
  health             jsonb NOT NULL DEFAULT '{}',
  usage              jsonb NOT NULL DEFAULT '{}',
  last_heartbeat_at  timestamptz,
  -- Bumped (from node_desired_seq) whenever any box this node should hold
  -- changes, so an agent's long poll knows its desired set moved.
  desired_version    bigint NOT NULL DEFAULT 0,
  -- sha256 of the node's agent token (remote agents); null for in-process ones.
  token_hash         bytea,
  created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE boxes (
  id                   text PRIMARY KEY,
  org_id               text NOT NULL REFERENCES orgs (id),
  name                 text NOT NULL,
  owner_id             text NOT NULL REFERENCES users (id),
  template             text NOT NULL,
  template_version     integer NOT NULL,
  image                jsonb NOT NULL,
  resources            jsonb NOT NULL,
  persistent           boolean NOT NULL DEFAULT false,
  desired_state        text NOT NULL CHECK (desired_state IN ('running', 'stopped', 'paused', 'deleted')),
  actual_state         text NOT NULL CHECK (actual_state IN ('pending', 'scheduling', 'provisioning',
                         'starting', 'running', 'stopping', 'stopped', 'pausing', 'paused', 'resuming',
                         'deleting', 'deleted', 'failed')),
  generation           bigint NOT NULL DEFAULT 1,
  observed_generation  bigint NOT NULL DEFAULT 0,
  -- Bumped by every write to the row; writers compare-and-set on it.
  version              bigint NOT NULL DEFAULT 1,
  node_id              text REFERENCES nodes (id),
  -- What the reconciler has published to the node's desired set: the node
  -- sees a desired change only once the reconciler has taken it up.
  node_phase           text CHECK (node_phase IN ('running', 'stopped', 'paused', 'absent')),
  node_generation      bigint NOT NULL DEFAULT 0,
  last_error           jsonb,
  attempts             integer NOT NULL DEFAULT 0,
  -- Work queue: due when next_attempt_at <= now() and no live lease.
  next_attempt_at      timestamptz,
  lease_holder         text,
  lease_expires_at     timestamptz,
  -- What the node agent last reported, fenced by (agent_generation, agent_seq).
  agent_phase          text,
  agent_generation     bigint NOT NULL DEFAULT 0,
  agent_seq            bigint NOT NULL DEFAULT 0,
  agent_reason         text,
  agent_error          jsonb,
  agent_address        text,
  state_entered_at     timestamptz NOT NULL DEFAULT now(),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  deleted_at           timestamptz,
  CONSTRAINT boxes_name_format CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,62})$')
);
-- A deleted box's name may be reused; a live one's may not.
CREATE UNIQUE INDEX boxes_org_name_live ON boxes (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX boxes_org_created ON boxes (org_id, created_at, id);
CREATE INDEX boxes_due ON boxes (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX boxes_node ON boxes (node_id) WHERE deleted_at IS NULL;

CREATE TABLE operations (
  id                 text PRIMARY KEY,
  box_id             text NOT NULL REFERENCES boxes (id),
  org_id             text NOT NULL REFERENCES orgs (id),
  kind               text NOT NULL CHECK (kind IN ('create', 'start', 'stop', 'pause', 'resume', 'delete')),
  target_generation  bigint NOT NULL,
  status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  error              jsonb,
  created_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz
);
CREATE INDEX operations_box_pending ON operations (box_id) WHERE status = 'pending';

CREATE TABLE box_events (
  id          bigserial PRIMARY KEY,
  box_id      text NOT NULL REFERENCES boxes (id),
  org_id      text NOT NULL REFERENCES orgs (id),
  generation  bigint NOT NULL,
  from_state  text,
  to_state    text NOT NULL,
  reason      text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX box_events_box ON box_events (box_id, id);

CREATE TABLE idempotency_keys (
  user_id          text NOT NULL REFERENCES users (id),
  key              text NOT NULL,
  method           text NOT NULL,
  path             text NOT NULL,
  request_hash     text NOT NULL,
  -- NULL while the first request is still being served.
  response_status  integer,
  response_body    jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
