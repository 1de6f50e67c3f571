-- Clients of an external OpenID Connect issuer (issue 26): issuer is the `iss` their tokens carry,
-- NULL for cxhooks' own clients; an external client has no secret (an empty secret_hash), its
-- client_id is the issuer's `azp`/`client_id`. A nullable column rewrites no row.
ALTER TABLE clients ADD COLUMN issuer TEXT;
