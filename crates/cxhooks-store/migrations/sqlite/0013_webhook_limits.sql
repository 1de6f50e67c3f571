-- Per-webhook limits and order (issue 25), set through the management API; the delivery workers
-- enforce them. NULL max_in_flight: the configured delivery.max_in_flight_per_webhook; NULL
-- max_per_second: no rate limit; ordered (0/1): per-entity delivery order. Adding nullable
-- columns and one with a constant default rewrites no row.
ALTER TABLE webhooks ADD COLUMN max_in_flight INTEGER;
ALTER TABLE webhooks ADD COLUMN max_per_second REAL;
ALTER TABLE webhooks ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
