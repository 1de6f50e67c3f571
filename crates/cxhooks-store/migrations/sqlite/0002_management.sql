-- Management API: applications (with their RSA key pair) and webhooks.
CREATE TABLE applications (
    id                 TEXT PRIMARY KEY,
    tenant             TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    key_bits           INTEGER NOT NULL,
    sealed_private_key BLOB NOT NULL,
    public_key         BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    created_by         TEXT NOT NULL,
    updated_at         INTEGER NOT NULL,
    updated_by         TEXT NOT NULL
);
CREATE INDEX applications_list ON applications(tenant, created_at, id);

CREATE TABLE webhooks (
    id                    TEXT PRIMARY KEY,
    tenant                TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    application_id        TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    filters               TEXT NOT NULL,
    sealed_custom_headers BLOB NOT NULL,
    status                TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    created_by            TEXT NOT NULL,
    updated_at            INTEGER NOT NULL,
    updated_by            TEXT NOT NULL
);
CREATE INDEX webhooks_list ON webhooks(tenant, application_id, created_at, id);
CREATE INDEX webhooks_owner ON webhooks(tenant, created_by);
