-- Step 3: bans, a note on ledger entries, and what the owner's reAPI spend is counted from.
-- When a job entered 'submitting' (the POST may have reached reAPI and been charged).
ALTER TABLE jobs ADD COLUMN submit_started_at DOUBLE PRECISION;
UPDATE jobs SET submit_started_at = submitted_at WHERE submitted_at IS NOT NULL;
CREATE INDEX jobs_submit_started ON jobs (submit_started_at);
CREATE INDEX jobs_finished ON jobs (finished_at);

-- Why an admin or operator changed a balance (grant / adjust).
ALTER TABLE ledger ADD COLUMN note TEXT;

-- Members who may not create images: scope 'global' (bot owners) or 'guild:<id>' (that server's admins).
CREATE TABLE bans (
    user_id    BIGINT NOT NULL,
    scope      TEXT NOT NULL,
    actor_id   BIGINT,
    reason     TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, scope)
);

-- One row that job creations lock while they count today's spend against the cap (PostgreSQL runs
-- READ COMMITTED: without it two creations could both see room for one more image).
CREATE TABLE spend_lock (id INTEGER PRIMARY KEY, taken REAL NOT NULL DEFAULT 0);
INSERT INTO spend_lock (id) VALUES (1);
