-- Issue 12 ("Ledger"): a job's ledger entries are read from its row instead of being written beside it.
--
-- A job's reservation and its settlement were two ledger rows (three index entries each) written in the same
-- transactions that insert and end the job, copies of what the row already holds: the reserve is -cost at
-- created_at, the settle a capture (0) or a refund (+cost) at finished_at, by the state the job ended in. A job is
-- inserted once its credits are reserved and ends once, so "reserved once, settled at most once, and only when
-- ended" now holds by construction. The rows were a third of a reserve+settle pair's writes.
--
-- The entries that are not a job's (allowances, grants, adjustments) stay rows, in account_entries, in the order
-- their account's row lock gave them (id). The ledger is a view of both. The refill audit needs, at each
-- allowance, the credits captured before it: an allowance records the account's captured total at that moment
-- (accounts.spent, moved by every capture under the same row lock), computed here from the old entries' order.
ALTER TABLE ledger RENAME TO account_entries;
ALTER TABLE accounts ADD COLUMN spent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_entries ADD COLUMN spent BIGINT;
UPDATE account_entries SET spent = (
    SELECT COALESCE(SUM(-r.delta), 0) FROM account_entries c
    JOIN account_entries r ON r.job_id = c.job_id AND r.reason = 'reserve'
    WHERE c.reason = 'capture' AND c.user_id = account_entries.user_id AND c.scope = account_entries.scope
    AND c.id < account_entries.id
) WHERE reason = 'allowance';
UPDATE accounts SET spent = (
    SELECT COALESCE(SUM(j.cost), 0) FROM jobs j
    WHERE j.user_id = accounts.user_id AND j.scope = accounts.scope AND j.state = 'delivered' AND j.cost > 0
);
DELETE FROM account_entries WHERE reason IN ('reserve', 'capture', 'refund');
DROP INDEX ledger_settled_once;
DROP INDEX ledger_reserved_once;
DROP INDEX ledger_user;
CREATE INDEX account_entries_user ON account_entries (user_id, scope);
-- step orders entries of one instant as they are made: an account's entries (its first allowance is made in the
-- transaction of its first reservation), then a job's reservation, then its settlement.
CREATE VIEW ledger AS
SELECT id, user_id, scope, delta, reason, job_id, actor_id, created_at, note, cap, spent, 0 AS step
FROM account_entries
UNION ALL
SELECT NULL, user_id, scope, -cost, 'reserve', id, NULL, created_at, NULL, NULL, NULL, 1
FROM jobs WHERE cost > 0
UNION ALL
SELECT NULL, user_id, scope, CASE WHEN state = 'delivered' THEN 0 ELSE cost END,
       CASE WHEN state = 'delivered' THEN 'capture' ELSE 'refund' END, id, NULL, finished_at, NULL, NULL, NULL, 2
FROM jobs WHERE cost > 0 AND state IN ('delivered', 'failed');
