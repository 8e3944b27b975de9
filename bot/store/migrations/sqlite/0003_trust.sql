-- Step 4: reservations held apart from the spendable balance, and the cap each refill was applied under.
-- held: credits reserved for jobs still in progress (a reserve moves them out of balance, a capture removes
-- them, a refund moves them back). Refills count balance + held against max_balance.
ALTER TABLE accounts ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);
UPDATE accounts SET held = (
    SELECT COALESCE(SUM(j.cost), 0) FROM jobs j
    WHERE j.user_id = accounts.user_id AND j.scope = accounts.scope AND j.state NOT IN ('delivered', 'failed')
);
-- The max_balance an 'allowance' entry was applied under (NULL on entries written before step 4).
ALTER TABLE ledger ADD COLUMN cap INTEGER;
