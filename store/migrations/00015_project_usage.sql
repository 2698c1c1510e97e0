-- +goose Up
-- The usage report for per-project pricing (store/usage.go, package
-- fairshare): per project and UTC day (YYYY-MM-DD), the requests answered
-- that day (added by each process's periodic flush) and the storage
-- bytes, resources and users measured last that day (measured_at, unix
-- microseconds; 0 = not measured that day).
CREATE TABLE project_usage (
    project_id    TEXT   NOT NULL,
    day           TEXT   NOT NULL,
    requests      BIGINT NOT NULL DEFAULT 0,
    storage_bytes BIGINT NOT NULL DEFAULT 0,
    resources     BIGINT NOT NULL DEFAULT 0,
    users         BIGINT NOT NULL DEFAULT 0,
    measured_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day)
);

-- +goose Down
DROP TABLE project_usage;
