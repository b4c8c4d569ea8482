-- Prebuilds (issue 7): a template version's image, its repository checked
-- out at one commit and its `init` commands run once, kept as a layer a new
-- box starts from. Queued when a version is pushed and on request, claimed
-- by a node agent with a lease (as template builds are), and recorded with
-- the commit it checked out and the layer it produced. The log keeps its
-- last 1 Mi characters, as a build's does.
--
-- A box records the prebuild it was made from (boxes.prebuild: id, layer,
-- commit), so a stale prebuild is visible on the box, never silent.

CREATE TABLE prebuilds (
  id                text PRIMARY KEY,
  org_id            text NOT NULL REFERENCES orgs (id),
  template_id       text NOT NULL,
  version           integer NOT NULL,
  -- The ref asked for; NULL: the repository's default branch.
  ref               text,
  -- What the node runs (image, resources, network, repo, init, env, secret names).
  job               jsonb NOT NULL,
  status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'building', 'ready', 'failed')),
  trigger           text NOT NULL CHECK (trigger IN ('push', 'request')),
  requested_by      text REFERENCES users (id),
  commit_id         text,
  layer             text CHECK (layer ~ '^sha256:[0-9a-f]{64}$'),
  error             text,
  node_id           text REFERENCES nodes (id),
  attempts          integer NOT NULL DEFAULT 0,
  lease_expires_at  timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  finished_at       timestamptz,
  log               text NOT NULL DEFAULT '',
  log_size          bigint NOT NULL DEFAULT 0,
  log_start         bigint NOT NULL DEFAULT 0,
  FOREIGN KEY (template_id, version) REFERENCES template_versions (template_id, version)
);

CREATE INDEX prebuilds_claimable ON prebuilds (created_at) WHERE status IN ('queued', 'building');
CREATE INDEX prebuilds_by_template ON prebuilds (template_id, version, finished_at DESC);

ALTER TABLE boxes ADD COLUMN prebuild jsonb;
