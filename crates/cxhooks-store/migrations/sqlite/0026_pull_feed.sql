-- Pull webhooks (issue 29, item 2): a webhook without a url keeps its deliveries `held` in the
-- queue, where its consumer reads them from a feed in `feed_seq` order. A held delivery gets its
-- sequence number after it committed, from its feed's `last_seq`, under the feed's write lock:
-- a number is seen only once every lower one has committed.
ALTER TABLE deliveries ADD COLUMN feed_seq BIGINT;
-- The feed read in order, and the held deliveries not numbered yet.
CREATE INDEX deliveries_feed ON deliveries(webhook_id, feed_seq) WHERE status = 'held';
CREATE INDEX deliveries_unnumbered ON deliveries(webhook_id, id)
    WHERE status = 'held' AND feed_seq IS NULL;

CREATE TABLE feeds (
    webhook_id  TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    -- The highest sequence number handed out.
    last_seq    BIGINT NOT NULL DEFAULT 0,
    -- The highest cursor the consumer sent back (what it has read), and when (µs).
    read_seq    BIGINT NOT NULL DEFAULT 0,
    read_at     BIGINT
);
