-- A delivery's latest attempt in its own row (issue 9: store bytes and writes per delivered
-- notification). Most deliveries succeed at their first attempt; that attempt used to be a row
-- of `attempts` with its own key, written by a statement of its own. Now the latest attempt is
-- kept in these columns (its number is the delivery's `attempts`), and `attempts` holds the
-- earlier ones: an attempt moves there when the next one is recorded. Older deliveries keep
-- every attempt in `attempts` and NULL here; readers take both.
ALTER TABLE deliveries ADD COLUMN attempt_at INTEGER;
ALTER TABLE deliveries ADD COLUMN attempt_duration_us INTEGER;
ALTER TABLE deliveries ADD COLUMN attempt_status_code INTEGER;
ALTER TABLE deliveries ADD COLUMN attempt_error TEXT;
ALTER TABLE deliveries ADD COLUMN attempt_response_body TEXT;
