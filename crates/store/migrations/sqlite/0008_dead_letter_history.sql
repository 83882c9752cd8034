-- A dead letter keeps its id when a replay of it fails again: the job's dead letter is found by
-- its job. An alert an admin has acknowledged is no longer posted.
CREATE INDEX dead_letters_job ON dead_letters (workspace_id, job_id);
ALTER TABLE alerts ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
