-- A smaller request log (issue 9: store bytes per delivered notification).
--
-- A webhook's deliveries are looked up by webhook only to cancel its pending ones (the request
-- log's webhook filter walks the application's log index), so only those are indexed.
DROP INDEX deliveries_webhook;
CREATE INDEX deliveries_webhook_pending ON deliveries(webhook_id) WHERE status IN ('pending', 'retrying');
