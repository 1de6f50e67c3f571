-- A counter bumped by every change to webhooks or applications: nodes sharing the store poll it
-- and reload their in-memory webhook registry when it moves.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
