-- Several reAPI models (issue 13): each job stores what it asked reAPI for and what reAPI charges for it.
-- model: the reAPI model id (older rows: the only model there was). resolution: NULL = the model's default.
-- image_count: images asked for in one task (reAPI's n). reapi_millicredits: what reAPI charges for the task in
-- thousandths of a reAPI credit ($1 = 1,000 credits = 1,000,000 here: exact for every spec price); the daily
-- spend cap sums it. Older rows count as one image at the old default price (20 credits).
ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT 'nano-banana-2-lite';
ALTER TABLE jobs ADD COLUMN resolution TEXT;
ALTER TABLE jobs ADD COLUMN image_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN reapi_millicredits INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET reapi_millicredits = 20000;
