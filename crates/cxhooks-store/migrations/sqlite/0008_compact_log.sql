-- no-transaction
-- A smaller request log (issue 9: store bytes per delivered notification), by SQLite's own
-- procedure for changing a table (https://sqlite.org/lang_altertable.html#otheralter): foreign
-- keys off, so that dropping the old `deliveries` does not cascade into `attempts`, and one
-- transaction for the whole change.
--
-- - Deliveries, attempts and changes each live in one b-tree keyed by their primary key
--   (`WITHOUT ROWID`): before, SQLite kept the rows in a rowid table and the key again in a
--   second index. Delivery and change ids are time-ordered since this version, so the trees grow
--   at their end, packed. The request log's index holds the delivery id already, so it does not
--   grow.
-- - A webhook's deliveries are looked up by webhook only to cancel its pending ones (the request
--   log's webhook filter walks the application's log index), so only those are indexed.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE deliveries_keyed (
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
) WITHOUT ROWID;
INSERT INTO deliveries_keyed SELECT id, tenant, application_id, webhook_id, change_id, type,
    payload, signature, status, attempts, series_attempts, series_started, next_attempt_at,
    lease_until, lease_owner, created_at, updated_at FROM deliveries;

CREATE TABLE attempts_keyed (
    delivery_id   TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    n             INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    duration_us   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    response_body TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;
INSERT INTO attempts_keyed SELECT delivery_id, n, at, duration_us, status_code, error,
    response_body FROM attempts;

CREATE TABLE changes_keyed (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    accepted_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO changes_keyed SELECT id, tenant, type, entity_id, accepted_at FROM changes;

DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE changes;
ALTER TABLE deliveries_keyed RENAME TO deliveries;
ALTER TABLE attempts_keyed RENAME TO attempts;
ALTER TABLE changes_keyed RENAME TO changes;

CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_log ON deliveries(tenant, application_id, created_at, id);
CREATE INDEX deliveries_webhook_pending ON deliveries(webhook_id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_claimable ON deliveries(next_attempt_at)
    WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE lease_owner IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
