-- Per-webhook limits and order (issue 25), set through the management API; the delivery workers
-- enforce them. NULL max_in_flight: the configured delivery.max_in_flight_per_webhook; NULL
-- max_per_second: no rate limit; ordered: per-entity delivery order. Nullable columns and a
-- constant default are catalog-only changes: no table rewrite, no long lock.
ALTER TABLE webhooks
    ADD COLUMN max_in_flight INTEGER,
    ADD COLUMN max_per_second DOUBLE PRECISION,
    ADD COLUMN ordered BOOLEAN NOT NULL DEFAULT false;
