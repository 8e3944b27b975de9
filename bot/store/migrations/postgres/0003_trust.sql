-- Step 4: reservations held apart from the spendable balance, and the cap each refill was applied under.
-- held: credits reserved for jobs still in progress (a reserve moves them out of balance, a capture removes
-- them, a refund moves them back). Refills count balance + held against max_balance.
ALTER TABLE accounts ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0);
UPDATE accounts SET held = (
    SELECT COALESCE(SUM(j.cost), 0) FROM jobs j
    WHERE j.user_id = accounts.user_id AND j.scope = accounts.scope AND j.state NOT IN ('delivered', 'failed')
);
-- The max_balance an 'allowance' entry was applied under (NULL on entries written before step 4).
ALTER TABLE ledger ADD COLUMN cap BIGINT;

-- Whether reAPI may have charged the owner for the job: set on entering 'submitting', cleared by the runner
-- when reAPI provably refused the POST or refunded a failed task. Rows before step 4 are inferred once here.
ALTER TABLE jobs ADD COLUMN charged INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET charged = 1 WHERE
    (task_id IS NOT NULL AND NOT (state = 'failed' AND COALESCE(error_code, '') IN ('task_failed', 'content_policy')))
    OR (state = 'failed' AND error_code IN ('outcome_unknown', 'interrupted_submit'))
    OR state IN ('submitting', 'running', 'delivering');

-- A fallback result post was begun (a resume looks for that message before posting again).
ALTER TABLE jobs ADD COLUMN post_started_at DOUBLE PRECISION;
-- The member has not yet been shown how the (ended) job turned out.
ALTER TABLE jobs ADD COLUMN notice_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_notice_pending ON jobs (finished_at) WHERE notice_pending = 1;
-- Waiting jobs per member, counted by the queue limits.
CREATE INDEX jobs_queued_user ON jobs (user_id) WHERE state = 'queued';

-- Why a job failed, as a code (rows before step 4 have none).
ALTER TABLE history ADD COLUMN error_code TEXT;
