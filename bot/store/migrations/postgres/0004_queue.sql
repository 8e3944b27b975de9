-- Step 5: the job queue lives in the database, so several bot processes share it.
-- claimed_by: the worker that last claimed the job (kept for the record once it ends).
-- lease_until: until when that claim holds; an unfinished job holds a runner slot while lease_until > now.
-- NULL on rows from before step 5 and on ended jobs: such unfinished jobs are free to be claimed.
-- attempt: how many times the job was claimed (0 on rows from before step 5).
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
-- The claim query: unfinished jobs per member in order (slots held, waiting jobs in turn).
CREATE INDEX jobs_claim ON jobs (user_id, created_at, id) WHERE state NOT IN ('delivered', 'failed');

-- One row every claim updates first, so counting the slots held and taking one happen one claim at a time
-- (PostgreSQL runs READ COMMITTED: without it two claims could both see the last free slot).
CREATE TABLE queue_lock (id INTEGER PRIMARY KEY, taken DOUBLE PRECISION NOT NULL DEFAULT 0);
INSERT INTO queue_lock (id) VALUES (1);
