-- Tombstones of deleted records (issue 27): which record of which entity was deleted when
-- (µs), so that a consumer that missed the deletion (`cxhooks sync` after a long downtime) can
-- repair its replica. Written in the transaction that deletes the record; purged after
-- `retention.tombstones`.
CREATE TABLE record_tombstones (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    id BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, entity, id)
);
CREATE INDEX record_tombstones_since ON record_tombstones (tenant, entity, deleted_at, id);
CREATE INDEX record_tombstones_age ON record_tombstones (deleted_at);
