-- +goose Up
-- What another process of a fleet needs to run an async job again when
-- the process running it died (store/jobruns.go): the job's kind, who
-- started it — the login, membership and on-behalf-of it ran under,
-- resolved again at takeover, never a cached grant — and its parameters,
-- both JSON. Kept out of the AsyncJob resource, which its caller reads.
-- project_id (the job's) leads the key: one shard on Citus.
CREATE TABLE job_runs (
    project_id TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    caller     TEXT NOT NULL,
    params     TEXT NOT NULL,
    PRIMARY KEY (project_id, job_id)
);

-- +goose Down
DROP TABLE job_runs;
