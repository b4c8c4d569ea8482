-- Per-org quotas. NULL means no limit. Admission (create, start, resume)
-- checks them in the same transaction as the change, serialised per org by a
-- row lock on the org, so concurrent requests cannot overshoot.

CREATE TABLE org_quotas (
  org_id             text PRIMARY KEY REFERENCES orgs (id),
  max_boxes          integer CHECK (max_boxes >= 0),
  max_running_boxes  integer CHECK (max_running_boxes >= 0),
  cpu                numeric CHECK (cpu >= 0),
  memory_mib         integer CHECK (memory_mib >= 0),
  disk_gib           integer CHECK (disk_gib >= 0),
  gpus               integer CHECK (gpus >= 0),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
