-- Where a template version's spec came from when the server converted it
-- (a devcontainer.json: the path it was read from, its text and digest, and
-- the warnings for what it could not honour). NULL for a spec pushed as is.
ALTER TABLE template_versions ADD COLUMN source jsonb;
