-- Additional fields (issue 28): per tenant, the keys of a record's `additionalinfo` dictionary
-- that the tenant defined per entity, with a label and a type. Records keep the values under
-- `additionalinfo.{key}`; conditions address them as `data.additionalinfo.{key}` and are
-- checked against these definitions.
CREATE TABLE additional_fields (
    tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant, entity, key)
);
