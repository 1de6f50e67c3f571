-- Applications may serve their JWKS without authentication (issue 29, item 3); off for every
-- existing application.
ALTER TABLE applications ADD COLUMN public_jwks BOOLEAN NOT NULL DEFAULT FALSE;
