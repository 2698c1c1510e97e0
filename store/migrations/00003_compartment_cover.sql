-- +goose Up
-- The compartment probe of a policy read (does this resource carry one of
-- the caller's compartments?) seeks (project_id, resource_type,
-- resource_id) and reads the resource's few compartment rows. With
-- compartment in the index the probe never reads the table, and SQLite no
-- longer prefers scanning the covering primary key from project_id alone
-- (docs/benchmarks.md, "Organization walls"). It replaces the index
-- without compartment, which it serves as well.
CREATE INDEX resource_compartments_resource_compartment ON resource_compartments (project_id, resource_type, resource_id, compartment);
DROP INDEX resource_compartments_resource;

-- +goose Down
CREATE INDEX resource_compartments_resource ON resource_compartments (project_id, resource_type, resource_id);
DROP INDEX resource_compartments_resource_compartment;
