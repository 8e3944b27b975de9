-- Issue 12 ("Ledger"): every index on jobs is written by each create and finish, so drop the two that another
-- index already serves as well.
-- jobs_active (state) WHERE unfinished: jobs_claim carries the very same partial WHERE (the same rows), so the
-- queries over unfinished jobs (active_jobs, the slots held) walk jobs_claim instead.
DROP INDEX jobs_active;
-- jobs_user (user_id, created_at): member_jobs uses jobs_claim, content-policy strikes jobs_user_errors (which
-- leads with user_id). Nothing else wanted it, except the claim query's planner on SQLite, which walked it over
-- every row ever created to find the queued ones: without it that walk takes jobs_queued_user (queued rows only).
DROP INDEX jobs_user;
