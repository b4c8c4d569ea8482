-- Templates per org, each POST of an existing name adding an immutable
-- version. A box records the template and version it was made from and
-- carries its own copy of what it needs (image, resources, network), so a
-- later version never moves an existing box.

CREATE TABLE templates (
  id          text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES orgs (id),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

CREATE TABLE template_versions (
  template_id  text NOT NULL REFERENCES templates (id),
  version      integer NOT NULL CHECK (version >= 1),
  spec         jsonb NOT NULL,
  created_by   text REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (template_id, version)
);

ALTER TABLE boxes ADD COLUMN network jsonb NOT NULL DEFAULT '{"egress": "deny-all"}';
