-- An Idempotency-Key is its client's own, and a replay must repeat the request it replays
-- (issue 24): keys are scoped by client, and each answer keeps the hash of its request. Keys
-- stored before have no client ('') and no hash (''): no publish finds them any more.
CREATE TABLE idempotency_per_client (
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    client_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    answer       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id, key)
);
INSERT INTO idempotency_per_client (tenant, client_id, key, request_hash, answer, created_at)
    SELECT tenant, '', key, '', answer, created_at FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_per_client RENAME TO idempotency;
