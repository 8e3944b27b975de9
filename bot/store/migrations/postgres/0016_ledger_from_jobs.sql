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
-- One pass each (a running sum, a grouped sum): a subquery per row would read the tables once per account.
UPDATE account_entries SET spent = t.spent
FROM (
    SELECT l.id, SUM(CASE WHEN l.reason = 'capture' THEN -r.delta ELSE 0 END)
           OVER (PARTITION BY l.user_id, l.scope ORDER BY l.id) AS spent
    FROM account_entries l
    LEFT JOIN account_entries r ON l.reason = 'capture' AND r.job_id = l.job_id AND r.reason = 'reserve'
) t
WHERE account_entries.id = t.id AND account_entries.reason = 'allowance';
UPDATE accounts SET spent = t.captured
FROM (
    SELECT user_id, scope, SUM(cost) AS captured FROM jobs WHERE state = 'delivered' AND cost > 0
    GROUP BY user_id, scope
) t
WHERE accounts.user_id = t.user_id AND accounts.scope = t.scope;
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
