-- Console: the operators of a tenant (people, with Argon2id password hashes) and their
-- sign-in sessions (only a keyed hash of the session id is stored).
CREATE TABLE operators (
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, email)
);

CREATE TABLE console_sessions (
    id_hash    BLOB    PRIMARY KEY,
    tenant     TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (tenant, email) REFERENCES operators(tenant, email) ON DELETE CASCADE
);
