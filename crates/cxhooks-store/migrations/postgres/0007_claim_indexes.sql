-- Claiming reads only what it can take: due deliveries nobody holds, in due order, and
-- separately leases that have run out. Before, every claim walked past every delivery that
-- nodes held claimed (thousands with several nodes), filtering them out one by one.
CREATE INDEX deliveries_claimable ON deliveries(next_attempt_at)
    WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE lease_owner IS NOT NULL;
