-- How a paused box should be kept: 'hot' (frozen in RAM, demoted to a
-- checkpoint after the node's cold-pause delay) or 'cold' (checkpointed to
-- disk at once, compute and RAM released), as the owner asked at pause time.

ALTER TABLE boxes ADD COLUMN pause_mode text NOT NULL DEFAULT 'hot' CHECK (pause_mode IN ('hot', 'cold'));
