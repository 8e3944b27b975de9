-- Issue 12 ("Ledger"): each row version of jobs (its INSERT, and every UPDATE that changes an indexed column or
-- state, so every step) writes an entry into every index whose WHERE it satisfies. Three indexes held every job
-- ever created although each query they serve only looks at jobs that already have the indexed value, so they
-- now hold only those: a queued or running job is written into none of them, a finished one into jobs_finished
-- (and jobs_submit_started once it was sent, jobs_user_errors if it failed).
--
-- jobs_submit_started: the spend cap's charged jobs (submit_started_at >= ?) and usage's day counts
-- (submit_started_at >= ? AND submit_started_at < ?); a comparison on the column implies IS NOT NULL on both
-- planners. The jobs not yet sent (submit_started_at IS NULL AND unfinished) are read through jobs_claim, whose
-- WHERE is that very unfinished state, and the spend check sums the two sets apart so each uses its index.
DROP INDEX jobs_submit_started;
CREATE INDEX jobs_submit_started ON jobs (submit_started_at) WHERE submit_started_at IS NOT NULL;
-- jobs_finished: usage's day counts and top members (finished_at >= ? AND finished_at < ?) imply the first arm;
-- recent_durations (state = 'delivered' … ORDER BY finished_at DESC LIMIT ?) has no term on finished_at, so the
-- second arm lets it keep walking this index newest first. It adds no row: a delivered job has its finished_at.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL OR state = 'delivered';
-- jobs_user_errors: content-policy strikes (user_id = ? AND error_code = 'content_policy' AND finished_at >= ?);
-- a delivered job has no error code, so only failed jobs are written here.
DROP INDEX jobs_user_errors;
CREATE INDEX jobs_user_errors ON jobs (user_id, error_code, finished_at) WHERE error_code IS NOT NULL;
