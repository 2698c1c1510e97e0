-- +goose Up
-- Token and date index rows keyed by compartment first, for the
-- compartments access policies confine to: those meta.accounts names
-- (Organization, CareTeam, Practitioner…), not Project (the project wall
-- already confines) nor Patient (one per patient: a copy of every row per
-- patient compartment would multiply the index for searches that filter
-- by subject instead). A clinic holding 1 % of the rows meets a code held
-- by 5 % in 0.05 % of them; these rows are that intersection, walked in
-- resource id order (tokens) or date order (dates) like search_token_value
-- and search_date_low (store/plan.go, driveCompartmentIndex). Written with
-- the index rows (store/insert.go), moved by $set-accounts, dropped with
-- the index rows; filled here for the resources stored before, from the
-- stored meta.compartment. This file and its .sqlite twin differ only in
-- how they read JSON.
CREATE TABLE search_token_compartment (
    project_id    TEXT NOT NULL,
    compartment   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    param         TEXT NOT NULL,
    code          TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    system        TEXT NOT NULL,
    PRIMARY KEY (project_id, compartment, resource_type, param, code, resource_id, system)
);
CREATE INDEX search_token_compartment_resource ON search_token_compartment (project_id, resource_type, resource_id);
CREATE TABLE search_date_compartment (
    project_id    TEXT   NOT NULL,
    compartment   TEXT   NOT NULL,
    resource_type TEXT   NOT NULL,
    param         TEXT   NOT NULL,
    low           BIGINT NOT NULL,
    high          BIGINT NOT NULL,
    resource_id   TEXT   NOT NULL,
    PRIMARY KEY (project_id, compartment, resource_type, param, low, high, resource_id)
);
CREATE INDEX search_date_compartment_resource ON search_date_compartment (project_id, resource_type, resource_id);
INSERT INTO search_token_compartment (project_id, compartment, resource_type, param, code, resource_id, system)
SELECT DISTINCT t.project_id, a.compartment, t.resource_type, t.param, t.code, t.resource_id, t.system
FROM (
    SELECT m.project_id, m.resource_type, m.id, substr(e.ref, strpos(e.ref, '/') + 1) AS compartment
    FROM (
        SELECT project_id, resource_type, id,
            CASE WHEN deleted = 0 AND content <> '' THEN content::jsonb #> '{meta,compartment}' END AS refs
        FROM resources WHERE deleted = 0
    ) m CROSS JOIN LATERAL (
        SELECT x ->> 'reference' AS ref FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.refs) = 'array' THEN m.refs ELSE '[]'::jsonb END) x
    ) e
    WHERE e.ref NOT LIKE 'Project/%' AND e.ref NOT LIKE 'Patient/%' AND strpos(e.ref, '/') > 0
) a JOIN search_token t ON t.project_id = a.project_id AND t.resource_type = a.resource_type AND t.resource_id = a.id
WHERE t.code <> '' AND strpos(t.param, ':') = 0;
INSERT INTO search_date_compartment (project_id, compartment, resource_type, param, low, high, resource_id)
SELECT DISTINCT t.project_id, a.compartment, t.resource_type, t.param, t.low, t.high, t.resource_id
FROM (
    SELECT m.project_id, m.resource_type, m.id, substr(e.ref, strpos(e.ref, '/') + 1) AS compartment
    FROM (
        SELECT project_id, resource_type, id,
            CASE WHEN deleted = 0 AND content <> '' THEN content::jsonb #> '{meta,compartment}' END AS refs
        FROM resources WHERE deleted = 0
    ) m CROSS JOIN LATERAL (
        SELECT x ->> 'reference' AS ref FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.refs) = 'array' THEN m.refs ELSE '[]'::jsonb END) x
    ) e
    WHERE e.ref NOT LIKE 'Project/%' AND e.ref NOT LIKE 'Patient/%' AND strpos(e.ref, '/') > 0
) a JOIN search_date t ON t.project_id = a.project_id AND t.resource_type = a.resource_type AND t.resource_id = a.id;

-- +goose Down
DROP TABLE search_date_compartment;
DROP TABLE search_token_compartment;
