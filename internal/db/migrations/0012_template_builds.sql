-- Template image builds (issue 7): one build per template version, requested
-- when the version is pushed and claimed by a node agent (FOR UPDATE SKIP
-- LOCKED, with a lease the agent renews while it works, so a build whose
-- agent died is claimed again). The agent reports its status and log lines;
-- the log keeps only its last 1 Mi characters (log_start says how many were
-- dropped from the front, log_size how many were ever written), so a
-- follower can resume from an offset.
--
-- OCI image archives uploaded to an org: stored content-addressed under the
-- control plane's data dir; the row records who may use which digest.

CREATE TABLE template_builds (
  id                text PRIMARY KEY,
  template_id       text NOT NULL,
  version           integer NOT NULL,
  image             jsonb NOT NULL,
  status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'building', 'ready', 'failed')),
  layers            jsonb,
  cache_hit         boolean,
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
  UNIQUE (template_id, version),
  FOREIGN KEY (template_id, version) REFERENCES template_versions (template_id, version)
);

CREATE INDEX template_builds_claimable ON template_builds (created_at) WHERE status IN ('queued', 'building');

CREATE TABLE oci_images (
  org_id      text NOT NULL REFERENCES orgs (id),
  digest      text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  size_bytes  bigint NOT NULL,
  format      text NOT NULL CHECK (format IN ('oci', 'docker')),
  layers      integer NOT NULL,
  -- Accepted with setuid/setgid entries kept (the uploader asked); nodes unpack it the same way.
  allow_setuid boolean NOT NULL DEFAULT false,
  created_by  text REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, digest)
);
