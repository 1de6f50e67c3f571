-- Claims that cost the same whatever one webhook's backlog is (issue 25).
--
-- Claims read due deliveries nobody holds webhook by webhook, round-robin, instead of in one due
-- order over every webhook: with one receiver hung and its webhook full, the old order walked
-- past that webhook's whole backlog on every claim (84 ms with 100,000 waiting, against 0.2 ms).
-- Keyed by webhook, a claim seeks to each ready webhook's first due delivery and takes a fair
-- share, and a full webhook is one seek to skip. It replaces `deliveries_claimable`: same rows.
DROP INDEX deliveries_claimable;
CREATE INDEX deliveries_ready ON deliveries(webhook_id, next_attempt_at)
    WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL;

-- Per-entity order (a webhook's `ordered`): the entity a delivery is about, set only for ordered
-- webhooks, so other deliveries add no index entry. A delivery of an ordered webhook is claimed
-- only once no live delivery of the same entity with an earlier change is left.
ALTER TABLE deliveries ADD COLUMN entity_key TEXT;
CREATE INDEX deliveries_entity ON deliveries(webhook_id, entity_key, change_id)
    WHERE entity_key IS NOT NULL AND status IN ('pending', 'retrying');
