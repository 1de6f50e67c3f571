-- Attachments' bytes (issue 28): a `crattachment` record holds its file's name, type, size and
-- checksum; the file itself is kept here, written in the transaction that writes the record,
-- and deleted with it. Bounded by `limits.max_attachment_bytes`.
CREATE TABLE record_contents (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    id BIGINT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (tenant, entity, id)
);
