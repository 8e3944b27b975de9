-- Where a job's result is, when it is not in the job's own channel: /history links to it and draws it from there
-- (history shows these columns from 0015 on, as a view of the ended jobs).
-- A member's private results, and the last-resort delivery of a refused channel, go by DM (result_channel_id: the
-- DM channel's id) or as an ephemeral follow-up (result_ephemeral = 1: only the member ever saw it, so nothing can
-- link to it). NULL and 0, as on every row from before: the result is in the job's channel.
ALTER TABLE jobs ADD COLUMN result_channel_id BIGINT;
ALTER TABLE jobs ADD COLUMN result_ephemeral INTEGER NOT NULL DEFAULT 0;
