-- Warm pools per template (issue 9). Reserved; filled in by that work.
SELECT 1;
