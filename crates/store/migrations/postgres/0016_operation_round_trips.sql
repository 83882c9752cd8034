-- How many requests each operation sent to the org (retries and token refreshes included), for
-- a call's timeline.
ALTER TABLE operations ADD COLUMN round_trips BIGINT NOT NULL DEFAULT 0;
