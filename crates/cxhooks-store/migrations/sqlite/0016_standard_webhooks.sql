-- Standard Webhooks as an option per application (issue 26): signature_scheme is 'cx' (the seed's
-- Cx-Signature only) or 'cx+standard' (also webhook-id/-timestamp/-signature), and
-- sealed_standard_secret the application's whsec_ secret sealed under the master key (NULL
-- under 'cx'). A constant default and a nullable column rewrite no row.
ALTER TABLE applications ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'cx';
ALTER TABLE applications ADD COLUMN sealed_standard_secret BLOB;
