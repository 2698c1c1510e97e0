-- +goose Up
-- Leases of a fleet of processes on one database (store/leases.go): one
-- row per piece of work exactly one process does at a time — an async
-- job's run (name job/<AsyncJob id>, in the job's project), a feed sink's
-- publisher (feed/<sink>, in the system project). The holder renews its
-- lease before expires_at (unix microseconds); once it passes, another
-- process may take the lease over. project_id leads the key (Citus
-- distributes by project, and a lease is taken by its project and name).
CREATE TABLE leases (
    project_id TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE INDEX leases_expires ON leases (expires_at);

-- Sign-in attempt buckets shared by a fleet (store/attempts.go): one
-- token bucket per limited key (an account, an address), tokens left as
-- of at (unix microseconds); the system project owns them all.
CREATE TABLE login_attempts (
    project_id TEXT             NOT NULL,
    key        TEXT             NOT NULL,
    tokens     DOUBLE PRECISION NOT NULL,
    at         BIGINT           NOT NULL,
    PRIMARY KEY (project_id, key)
);
CREATE INDEX login_attempts_at ON login_attempts (at);

-- +goose Down
DROP INDEX login_attempts_at;
DROP TABLE login_attempts;
DROP INDEX leases_expires;
DROP TABLE leases;
