-- How many requests each operation sent to the org (retries and token refreshes included), for
-- a call's timeline.
ALTER TABLE operations ADD COLUMN round_trips INTEGER NOT NULL DEFAULT 0;
