-- +goose Up
-- Lookups by id that no project narrows (a super admin's or the system
-- principal's read, vread and instance history; the check that an id a
-- client chose, or a reference names, exists in any project) seek these
-- instead of scanning every project's rows. They are not unique, so the
-- schema stays distributable by project (Citus requires project_id only
-- in primary keys and unique constraints); on Citus each shard seeks its
-- own part. last_updated orders an instance's history.
CREATE INDEX resources_by_id ON resources (id);
CREATE INDEX resource_history_by_id ON resource_history (id, last_updated);

-- +goose Down
DROP INDEX resource_history_by_id;
DROP INDEX resources_by_id;
