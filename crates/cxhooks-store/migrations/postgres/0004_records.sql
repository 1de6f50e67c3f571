-- The record store (SPEC §4.2): JSON records per tenant and entity with sequential ids.
CREATE TABLE records (
    tenant     TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    id         BIGINT NOT NULL,
    data       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, entity, id)
);

CREATE TABLE record_ids (
    tenant  TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    entity  TEXT NOT NULL,
    last_id BIGINT NOT NULL,
    PRIMARY KEY (tenant, entity)
);
