-- Which tenant each move of the configuration version was for, written in the move's
-- transaction: a node that saw version N reloads only the tenants of the versions after N.
-- The last 10,000 are kept; a node further behind (or behind a move made before this table)
-- finds a version missing and reloads everything.
CREATE TABLE config_changes (
    version INTEGER PRIMARY KEY,
    tenant  TEXT NOT NULL
);
