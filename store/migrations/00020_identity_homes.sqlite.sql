-- +goose Up
-- Where the rows of an identity lookup live (store/homes.go), for the two
-- lookups whose request does not name a project: "ClientApplication/<id>"
-- → the client's project and the projects of the memberships naming it;
-- "User/<id>" → the projects of the memberships naming the user. Not a
-- project's row: on Citus distributed by ref (store/layout.go), so a
-- lookup reads one shard, then the rows in the project it names.
-- Written with the ClientApplication or membership, filled here for the
-- rows written before. This file and its .postgres twin differ only in
-- how they read JSON.
CREATE TABLE identity_homes (
    ref  TEXT NOT NULL,
    home TEXT NOT NULL,
    PRIMARY KEY (ref, home)
);
INSERT INTO identity_homes (ref, home)
SELECT 'ClientApplication/' || id, project_id FROM resources
    WHERE resource_type = 'ClientApplication' AND deleted = 0
UNION
SELECT m.ref, m.project_id FROM (
    SELECT CASE WHEN resource_type = 'ProjectMembership' AND deleted = 0 THEN json_extract(content, '$.user.reference') END AS ref, project_id FROM resources
        WHERE resource_type = 'ProjectMembership' AND deleted = 0
) m WHERE m.ref LIKE 'User/%' OR m.ref LIKE 'ClientApplication/%';

-- +goose Down
DROP TABLE identity_homes;
