-- The request log reads `all_deliveries` on both backends. On PostgreSQL it joins the queue and
-- the time-partitioned log of finished deliveries (its migration "delivery log"); SQLite keeps
-- finished deliveries in the one table, deleted in small batches past their retention.
CREATE VIEW all_deliveries AS SELECT * FROM deliveries;
