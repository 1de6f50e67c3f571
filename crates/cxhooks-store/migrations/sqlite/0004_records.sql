-- The record store (SPEC §4.2): JSON records per tenant and entity with sequential ids.
CREATE TABLE records (
    tenant     TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    id         INTEGER NOT NULL,
    data       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, entity, id)
);

CREATE TABLE record_ids (
    tenant  TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    entity  TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (tenant, entity)
);
