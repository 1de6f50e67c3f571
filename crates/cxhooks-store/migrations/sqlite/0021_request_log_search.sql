-- The request log searched by entity (issue 27): a change's deliveries are found through the
-- changes of one record. Measured on the publish path: docs/performance.md, "Issue 27, request
-- log".
CREATE INDEX changes_entity ON changes(tenant, entity_id);

-- Bulk recovery (issue 27): "redeliver every failed delivery of this webhook since T". The node
-- that accepted it redelivers them, oldest first, at `delivery.recover_per_s`, and writes its
-- progress here after every batch; any node answers for it. A recovery whose node stopped
-- (`heartbeat_at` older than a minute while `running`) reads as `interrupted` and may be started
-- again: what it already redelivered is no longer failed. One runs per webhook at a time: the
-- unique index refuses a second `running` row, also from another node at the same moment.
CREATE TABLE recoveries (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    application_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    since_us BIGINT NOT NULL,
    until_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    processed BIGINT NOT NULL,
    redelivered BIGINT NOT NULL,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX recoveries_webhook ON recoveries(webhook_id, created_at);
CREATE UNIQUE INDEX recoveries_running ON recoveries(webhook_id) WHERE status = 'running';
