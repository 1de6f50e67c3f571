-- Outbound authentication per webhook (issue 29, item 5): OAuth2 client credentials or a client
-- certificate, with their secrets, sealed with the master key like custom headers; NULL: none.
ALTER TABLE webhooks ADD COLUMN sealed_auth BLOB;
