-- A delivery's latest attempt in its own row (issue 9: store bytes and writes per delivered
-- notification). Most deliveries succeed at their first attempt; that attempt used to be a row
-- of `attempts` and an entry of its primary key (about 140 bytes per delivery), written by a
-- statement of its own. Now the latest attempt is kept in these columns (its number is the
-- delivery's `attempts`), and `attempts` holds the earlier ones: an attempt moves there when the
-- next one is recorded. Older deliveries keep every attempt in `attempts` and NULL here;
-- readers take both. Adding nullable columns rewrites nothing.
ALTER TABLE deliveries
    ADD COLUMN attempt_at BIGINT,
    ADD COLUMN attempt_duration_us BIGINT,
    ADD COLUMN attempt_status_code BIGINT,
    ADD COLUMN attempt_error TEXT,
    ADD COLUMN attempt_response_body TEXT;
