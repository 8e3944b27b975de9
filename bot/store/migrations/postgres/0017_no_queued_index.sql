-- Issue 12 ("Ledger", PostgreSQL): every index on jobs takes an entry for each job created (and vacuum's work for
-- each job ended), so drop jobs_queued_user (user_id) WHERE state = 'queued': jobs_claim holds every queued job
-- (its WHERE is the wider unfinished state, and it leads with user_id too), so the queries over queued jobs walk it
-- instead, past at most the running jobs (no more than the slots of every process). Measured with 3,000 queued and
-- 50 running jobs over 50,000 ended ones: the waiting count, a member's queued count and the claim's fair order took
-- as long through jobs_claim as through this index (0.3-9 ms either way). SQLite keeps it: its planner walks it for
-- the claim (0012).
DROP INDEX jobs_queued_user;
