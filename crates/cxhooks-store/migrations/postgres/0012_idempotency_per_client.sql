-- An Idempotency-Key is its client's own, and a replay must repeat the request it replays
-- (issue 24): keys are scoped by client, and each answer keeps the hash of its request. Keys
-- stored before have no client ('') and no hash (''): no publish finds them any more.
ALTER TABLE idempotency ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency DROP CONSTRAINT idempotency_pkey;
ALTER TABLE idempotency ADD PRIMARY KEY (tenant, client_id, key);
