-- The Discord locale of the member who asked for a job ("de", "en-US" …), so that its progress, result and
-- failure notices, written later by whichever worker runs it, speak the member's language. NULL: English.
ALTER TABLE jobs ADD COLUMN locale TEXT;
