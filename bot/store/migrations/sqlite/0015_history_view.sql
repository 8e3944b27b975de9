-- Issue 12 ("Ledger"): a member's history is their ended jobs, so it is now read from the jobs table instead of
-- being copied into a table of its own as each job ends. Each row of history was a copy of its job's row, made
-- once in the same transaction that ended the job (which never changes an ended job's row again), with the cost
-- the member paid: the job's cost when delivered, nothing when refunded. The copy was one more row and two more
-- index entries for every job (one statement of the eight a reserve+settle pair runs on SQLite).
--
-- The view has the table's columns and meaning; jobs_history serves its two reads (a member's page, newest first,
-- and a member's delivered images per day). Every job is kept, so no row of the old table is lost.
DROP TABLE history;
CREATE VIEW history AS
SELECT id AS job_id, user_id, guild_id, channel_id, kind, prompt, aspect_ratio, sources, parent_job_id, state,
       CASE WHEN state = 'delivered' THEN cost ELSE 0 END AS cost, result_message_id, error_code, error_message,
       created_at, finished_at, result_channel_id, result_ephemeral
FROM jobs WHERE state IN ('delivered', 'failed');
CREATE INDEX jobs_history ON jobs (user_id, finished_at) WHERE state IN ('delivered', 'failed');
