-- The public keys an application signed with before its last rotations (issue 27): listed in
-- its JWKS until `keys.rotation_grace` after their retirement (µs), so that a consumer can
-- still verify deliveries signed before the rotation. Private keys are not kept: a retry after
-- a rotation is signed again with the current key.
CREATE TABLE retired_application_keys (
    tenant TEXT NOT NULL,
    application_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (application_id, retired_at)
);
