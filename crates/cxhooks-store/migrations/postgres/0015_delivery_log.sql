-- Finished deliveries leave the queue for a log partitioned by when they expire (issue 25).
--
-- The queue (`deliveries`) then holds live deliveries (pending, retrying) and stays small
-- whatever the retention; a delivery moves to `delivery_log` in the statement that finishes it.
-- The log is partitioned by `expires_at` (when its retention ends, `[retention]`), so the purge
-- drops whole partitions once they have expired instead of deleting row by row. Partitions are
-- made ahead by the nodes and listed in `delivery_log_parts`; a delivery kept for good
-- (retention 0) expires at the largest BIGINT, in `delivery_log_forever`, never dropped.
-- Deliveries finished before this migration stay in the queue until the purge deletes them
-- there as before.
--
-- `attempts` (the earlier attempts of a delivery) no longer cascades from `deliveries`: its rows
-- stay when their delivery moves, and go with its log partition.
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;

CREATE TABLE delivery_log (LIKE deliveries, expires_at BIGINT NOT NULL)
    PARTITION BY RANGE (expires_at);
CREATE INDEX delivery_log_id ON delivery_log(id);
CREATE INDEX delivery_log_app ON delivery_log(tenant, application_id, created_at, id);
CREATE TABLE delivery_log_forever PARTITION OF delivery_log
    FOR VALUES FROM (9223372036854775807) TO (MAXVALUE);

CREATE TABLE delivery_log_parts (
    name    TEXT PRIMARY KEY,
    from_us BIGINT NOT NULL,
    to_us   BIGINT NOT NULL
);

-- The request log reads the queue and the log as one (a later column added to `deliveries`
-- must be added to `delivery_log` and this view recreated).
CREATE VIEW all_deliveries AS
    SELECT * FROM deliveries
    UNION ALL
    SELECT id, tenant, application_id, webhook_id, change_id, type, payload, signature, status,
           attempts, series_attempts, series_started, next_attempt_at, lease_until, lease_owner,
           created_at, updated_at, attempt_at, attempt_duration_us, attempt_status_code,
           attempt_error, attempt_response_body, entity_key
    FROM delivery_log;
