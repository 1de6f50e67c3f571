-- Issue 9, eighth round: PostgreSQL bytes per delivery of the request log, before vacuum and after,
-- for two designs: the deliveries table as it is (claims update the delivery row), or its queue
-- columns in a table of their own that the completion deletes from. 80,000 deliveries of an
-- 80-byte payload are stored, claimed and completed in batches of 200.
--
--   psql -h 127.0.0.1 -U postgres test -v queue_table=false -v ff=100 -v claimupd=true -f docs/bench/pg-bytes.sql
--
-- queue_table: the second design; ff: the deliveries table's fillfactor; claimupd=false: claims write
-- nothing (as for deliveries handed to their node, or claims by advisory locks). Prints each
-- relation's bytes per delivery before vacuum, the total, and the total after VACUUM FULL.
DROP SCHEMA IF EXISTS sim CASCADE; CREATE SCHEMA sim; SET search_path = sim;
\if :queue_table
\set tables 'deliveries, queue, attempts'
CREATE TABLE deliveries (id uuid PRIMARY KEY, tenant text, application_id uuid, webhook_id uuid, change_id uuid, type text, payload bytea, signature text, status text, attempts bigint, series_attempts bigint, series_started bigint, next_attempt_at bigint, created_at bigint, updated_at bigint) WITH (fillfactor = :ff);
CREATE INDEX deliveries_log ON deliveries(tenant, application_id, created_at, id);
CREATE TABLE queue (delivery_id uuid PRIMARY KEY, webhook_id uuid, next_attempt_at bigint, lease_owner text, lease_until bigint);
CREATE INDEX queue_claimable ON queue(next_attempt_at) WHERE lease_owner IS NULL;
CREATE INDEX queue_leased ON queue(lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX queue_webhook ON queue(webhook_id);
CREATE TABLE attempts (delivery_id uuid, n bigint, at bigint, duration_us bigint, status_code bigint, error text, response_body text, PRIMARY KEY (delivery_id, n));
CREATE OR REPLACE FUNCTION clock_timestamp_us() RETURNS bigint LANGUAGE sql AS $$ SELECT (extract(epoch from clock_timestamp())*1e6)::bigint $$;
CREATE OR REPLACE PROCEDURE run(n int, claimupd bool) LANGUAGE plpgsql AS $$
DECLARE i int := 0; ids uuid[];
BEGIN
  WHILE i < n LOOP
    -- publish 200 deliveries
    WITH ins AS (INSERT INTO deliveries SELECT gen_random_uuid(), 'bench', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', gen_random_uuid(), 'candidate.updated', decode(repeat(md5(random()::text), 5), 'hex'), NULL, 'pending', 0, 0, NULL, 0, clock_timestamp_us(), clock_timestamp_us() FROM generate_series(1,200) RETURNING id, webhook_id)
    INSERT INTO queue SELECT id, webhook_id, 0, NULL, NULL FROM ins;
    COMMIT;
    -- claim 200
    IF claimupd THEN
    UPDATE queue SET lease_owner = 'node', lease_until = 1 WHERE delivery_id IN (SELECT delivery_id FROM queue WHERE lease_owner IS NULL ORDER BY next_attempt_at LIMIT 200 FOR UPDATE SKIP LOCKED);
    COMMIT;
    END IF;
    -- complete the claimed ones
    SELECT array_agg(delivery_id) INTO ids FROM (SELECT delivery_id FROM queue ORDER BY next_attempt_at LIMIT 200) s;
    UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, series_attempts = series_attempts + 1, series_started = 1, updated_at = 2 WHERE id = ANY(ids);
    INSERT INTO attempts SELECT unnest(ids), 1, 1, 1000, 200, NULL, '';
    DELETE FROM queue WHERE delivery_id = ANY(ids);
    COMMIT;
    i := i + 200;
  END LOOP;
END $$;
\else
\set tables 'deliveries, attempts'
CREATE TABLE deliveries (id uuid PRIMARY KEY, tenant text, application_id uuid, webhook_id uuid, change_id uuid, type text, payload bytea, signature text, status text, attempts bigint, series_attempts bigint, series_started bigint, next_attempt_at bigint, lease_until bigint, lease_owner text, created_at bigint, updated_at bigint) WITH (fillfactor = :ff);
CREATE INDEX deliveries_claimable ON deliveries(next_attempt_at) WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_webhook_pending ON deliveries(webhook_id) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_log ON deliveries(tenant, application_id, created_at, id);
CREATE TABLE queue (delivery_id uuid PRIMARY KEY, webhook_id uuid, next_attempt_at bigint, lease_owner text, lease_until bigint);
CREATE INDEX queue_claimable ON queue(next_attempt_at) WHERE lease_owner IS NULL;
CREATE INDEX queue_leased ON queue(lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX queue_webhook ON queue(webhook_id);
CREATE TABLE attempts (delivery_id uuid, n bigint, at bigint, duration_us bigint, status_code bigint, error text, response_body text, PRIMARY KEY (delivery_id, n));
CREATE OR REPLACE PROCEDURE run(n int, claimupd bool) LANGUAGE plpgsql AS $$
DECLARE i int := 0; ids uuid[];
BEGIN
  WHILE i < n LOOP
    -- publish 200 deliveries
    INSERT INTO deliveries SELECT gen_random_uuid(), 'bench', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', gen_random_uuid(), 'candidate.updated', decode(repeat(md5(random()::text), 5), 'hex'), NULL, 'pending', 0, 0, NULL, 0, NULL, NULL, clock_timestamp_us(), clock_timestamp_us() FROM generate_series(1,200);
    COMMIT;
    -- claim 200
    IF claimupd THEN
    UPDATE deliveries SET lease_owner = 'node', lease_until = 1 WHERE id IN (SELECT id FROM deliveries WHERE status IN ('pending','retrying') AND lease_owner IS NULL ORDER BY next_attempt_at LIMIT 200 FOR UPDATE SKIP LOCKED);
    COMMIT;
    END IF;
    -- complete the claimed ones
    SELECT array_agg(id) INTO ids FROM (SELECT id FROM deliveries WHERE status IN ('pending','retrying') ORDER BY next_attempt_at LIMIT 200) s;
    UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, series_attempts = series_attempts + 1, series_started = 1, updated_at = 2, lease_owner = NULL, lease_until = NULL WHERE id = ANY(ids);
    INSERT INTO attempts SELECT unnest(ids), 1, 1, 1000, 200, NULL, '';
    COMMIT;
    i := i + 200;
  END LOOP;
END $$;
CREATE OR REPLACE FUNCTION clock_timestamp_us() RETURNS bigint LANGUAGE sql AS $$ SELECT (extract(epoch from clock_timestamp())*1e6)::bigint $$;
\endif
CALL run(80000, :claimupd);
SELECT relname, pg_relation_size(c.oid)/80000 AS per FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE nspname='sim' AND relkind IN ('r','i') ORDER BY 2 DESC;
SELECT sum(pg_relation_size(c.oid))/80000 AS total FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE nspname='sim' AND relkind IN ('r','i','t');
VACUUM FULL :tables;
SELECT sum(pg_relation_size(c.oid))/80000 AS total_live FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE nspname='sim' AND relkind IN ('r','i','t');
DROP SCHEMA sim CASCADE;
