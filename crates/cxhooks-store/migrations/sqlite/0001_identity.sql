-- Identity: tenants, their realm keys, confidential clients. Timestamps are microseconds since
-- the Unix epoch on both backends so that one SQL text serves both.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE tenants (
    name             TEXT PRIMARY KEY,
    webhooks_enabled BOOLEAN NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE realm_keys (
    kid                TEXT PRIMARY KEY,
    tenant             TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    sealed_private_key BLOB NOT NULL,
    public_key         BLOB NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX realm_keys_tenant ON realm_keys(tenant);

CREATE TABLE clients (
    tenant         TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    code           TEXT NOT NULL,
    secret_hash    BLOB NOT NULL,
    default_scopes TEXT NOT NULL,
    permissions    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant, client_id)
);
