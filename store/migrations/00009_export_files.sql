-- +goose Up
-- Bulk export output (http/export.go): the NDJSON of one resource type of
-- one export job, in parts of up to a page of resources each, kept in the
-- job's project until the job is cancelled or the project erased. A
-- patient's erasure deletes every part that holds it.
CREATE TABLE export_files (
    project_id    TEXT    NOT NULL,
    job_id        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    part          INTEGER NOT NULL,
    content       TEXT    NOT NULL,
    PRIMARY KEY (project_id, job_id, resource_type, part)
);

-- +goose Down
DROP TABLE export_files;
