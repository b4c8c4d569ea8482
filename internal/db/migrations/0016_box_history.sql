-- A box's history (GET .../boxes/BOX/history) merges its state changes with
-- the audit events aimed at it: found through the target, not by scanning
-- the org's whole audit log (gateway sessions alone add a row per login).
CREATE INDEX audit_events_box_target ON audit_events (target_id, id) WHERE target_kind = 'box';
