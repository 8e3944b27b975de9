-- Deliveries Discord could not take for now (429, 5xx, no answer) are retried later, and the wait is stored:
-- delivery_attempts: how many deliveries of the job were put off so far (0 on older rows);
-- delivery_retry_at: when the next attempt may go (NULL: at once). A restart resumes the wait, not a refund.
ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN delivery_retry_at REAL;
