-- Teams inside an org: a box may belong to one, and a team may have its own
-- quota (checked with the org's, in the same admission transaction).

CREATE TABLE teams (
  id          text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES orgs (id),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

CREATE TABLE team_members (
  team_id     text NOT NULL REFERENCES teams (id),
  user_id     text NOT NULL REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_quotas (
  team_id            text PRIMARY KEY REFERENCES teams (id),
  max_boxes          integer CHECK (max_boxes >= 0),
  max_running_boxes  integer CHECK (max_running_boxes >= 0),
  cpu                numeric CHECK (cpu >= 0),
  memory_mib         integer CHECK (memory_mib >= 0),
  disk_gib           integer CHECK (disk_gib >= 0),
  gpus               integer CHECK (gpus >= 0),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE boxes ADD COLUMN team_id text REFERENCES teams (id);
CREATE INDEX boxes_team ON boxes (team_id) WHERE team_id IS NOT NULL;
