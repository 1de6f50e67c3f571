-- Delivery: accepted changes, one delivery per (change, webhook), every attempt, usage counts.
-- Deliveries are not cascaded from webhooks or applications: when those are deleted, their
-- pending deliveries are cancelled and stay visible in the request log.
CREATE TABLE changes (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    accepted_at INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    application_id   TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    change_id        TEXT,
    type             TEXT NOT NULL,
    payload          BLOB NOT NULL,
    signature        TEXT,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    series_attempts  INTEGER NOT NULL,
    series_started   INTEGER,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    lease_owner      TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_log ON deliveries(tenant, application_id, created_at, id);
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, status);

CREATE TABLE attempts (
    delivery_id   TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    n             INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    duration_us   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE usage (
    tenant    TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    month     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id, month)
);

CREATE TABLE idempotency (
    tenant     TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    answer     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- A webhook failing without success: since when, and how many deliveries failed since.
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
ALTER TABLE webhooks ADD COLUMN failed_deliveries INTEGER NOT NULL DEFAULT 0;
