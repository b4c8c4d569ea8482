-- Who may open a box port's preview (/preview/ORG/BOX/PORT/). Ports not
-- listed are private: only people who may connect to the box. 'org': any
-- member of the box's org. 'public': anyone with the link, signed in or not.

CREATE TABLE box_ports (
  box_id      text NOT NULL REFERENCES boxes (id),
  port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  visibility  text NOT NULL CHECK (visibility IN ('org', 'public')),
  label       text NOT NULL DEFAULT '',
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (box_id, port)
);
