-- Processes killed in a box for lack of memory, as its node reports them
-- (the box's OOM guard): how many, and the latest one. Each kill is also a
-- row in box_events of kind 'oom_kill' (the box's state does not change).

ALTER TABLE boxes ADD COLUMN oom_kills integer NOT NULL DEFAULT 0;
ALTER TABLE boxes ADD COLUMN last_oom_kill jsonb;
ALTER TABLE box_events ADD COLUMN kind text NOT NULL DEFAULT 'transition' CHECK (kind IN ('transition', 'oom_kill'));
