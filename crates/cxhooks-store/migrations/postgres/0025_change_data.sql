-- Stored change data (issue 29, item 0): each change keeps its `data` and metadata (paths,
-- groups) as packed JSON (`pack.rs`), for backtests and erasure, for as long as the change is
-- kept (`retention.changes`). Changes stored before have none (NULL).
ALTER TABLE changes ADD COLUMN body BYTEA;
