-- +goose Up
-- One schema for SQLite and PostgreSQL. Every table is tenant-first: each row
-- carries project_id and every primary key and index starts with it, so the
-- schema can be distributed by project (Citus) later. Timestamps are unix
-- microseconds (UTC); ids are UUID strings; booleans are 0/1.

-- Current version of every resource. content is the JSON served as stored.
CREATE TABLE resources (
    project_id    TEXT     NOT NULL,
    resource_type TEXT     NOT NULL,
    id            TEXT     NOT NULL,
    version_id    TEXT     NOT NULL,
    last_updated  BIGINT   NOT NULL,
    deleted       SMALLINT NOT NULL DEFAULT 0,
    content       TEXT     NOT NULL,
    PRIMARY KEY (project_id, resource_type, id)
);
CREATE INDEX resources_last_updated ON resources (project_id, resource_type, last_updated);

-- Every version, including the current one and deletions (content '').
CREATE TABLE resource_history (
    project_id    TEXT     NOT NULL,
    resource_type TEXT     NOT NULL,
    id            TEXT     NOT NULL,
    version_id    TEXT     NOT NULL,
    last_updated  BIGINT   NOT NULL,
    deleted       SMALLINT NOT NULL DEFAULT 0,
    content       TEXT     NOT NULL,
    PRIMARY KEY (project_id, resource_type, id, version_id)
);
CREATE INDEX resource_history_type_time ON resource_history (project_id, resource_type, last_updated);
CREATE INDEX resource_history_id_time ON resource_history (project_id, resource_type, id, last_updated);
CREATE INDEX resource_history_time ON resource_history (project_id, last_updated);

-- meta.compartment, one row per (compartment id, resource). compartment is
-- the UUID of the compartment reference (type dropped, as Medplum does).
CREATE TABLE resource_compartments (
    project_id    TEXT NOT NULL,
    compartment   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    PRIMARY KEY (project_id, compartment, resource_type, resource_id)
);
CREATE INDEX resource_compartments_resource ON resource_compartments (project_id, resource_type, resource_id);

-- Search index tables, one per parameter type. Rows of a resource are
-- replaced on every write. param is the SearchParameter code.

-- token: system|code; text is the lower-cased display/text for :text.
CREATE TABLE search_token (
    project_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL DEFAULT '',
    code          TEXT NOT NULL DEFAULT '',
    text          TEXT NOT NULL DEFAULT ''
);
-- resource_id follows the equality columns so a code search can walk the
-- index in id order and stop after one page.
CREATE INDEX search_token_value ON search_token (project_id, resource_type, param, code, resource_id, system);
CREATE INDEX search_token_resource ON search_token (project_id, resource_type, resource_id);

-- string: value is normalised (lower case, accents removed) for the default
-- prefix match and :contains; exact is the original for :exact.
CREATE TABLE search_string (
    project_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    value         TEXT NOT NULL,
    exact         TEXT NOT NULL
);
CREATE INDEX search_string_value ON search_string (project_id, resource_type, param, value);
CREATE INDEX search_string_resource ON search_string (project_id, resource_type, resource_id);

-- date: the instant range [low, high] (unix microseconds) the value covers.
CREATE TABLE search_date (
    project_id    TEXT   NOT NULL,
    resource_type TEXT   NOT NULL,
    resource_id   TEXT   NOT NULL,
    param         TEXT   NOT NULL,
    low           BIGINT NOT NULL,
    high          BIGINT NOT NULL
);
-- Covering: a range search reads only the index, not the rows.
CREATE INDEX search_date_low ON search_date (project_id, resource_type, param, low, high, resource_id);
CREATE INDEX search_date_high ON search_date (project_id, resource_type, param, high, low, resource_id);
CREATE INDEX search_date_resource ON search_date (project_id, resource_type, resource_id);

-- number: the value and the range its precision implies.
CREATE TABLE search_number (
    project_id    TEXT             NOT NULL,
    resource_type TEXT             NOT NULL,
    resource_id   TEXT             NOT NULL,
    param         TEXT             NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    low           DOUBLE PRECISION NOT NULL,
    high          DOUBLE PRECISION NOT NULL
);
CREATE INDEX search_number_value ON search_number (project_id, resource_type, param, value);
CREATE INDEX search_number_resource ON search_number (project_id, resource_type, resource_id);

-- quantity: value with its precision range, system and code (or unit).
CREATE TABLE search_quantity (
    project_id    TEXT             NOT NULL,
    resource_type TEXT             NOT NULL,
    resource_id   TEXT             NOT NULL,
    param         TEXT             NOT NULL,
    system        TEXT             NOT NULL DEFAULT '',
    code          TEXT             NOT NULL DEFAULT '',
    unit          TEXT             NOT NULL DEFAULT '',
    value         DOUBLE PRECISION NOT NULL,
    low           DOUBLE PRECISION NOT NULL,
    high          DOUBLE PRECISION NOT NULL
);
CREATE INDEX search_quantity_value ON search_quantity (project_id, resource_type, param, value);
CREATE INDEX search_quantity_resource ON search_quantity (project_id, resource_type, resource_id);

-- reference: target_type/target_id for relative references (target_id is
-- the whole value for absolute URLs, target_type then ''); identifier
-- system|value for :identifier goes to search_token under param "<code>:identifier".
CREATE TABLE search_reference (
    project_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    target_type   TEXT NOT NULL DEFAULT '',
    target_id     TEXT NOT NULL
);
CREATE INDEX search_reference_target ON search_reference (project_id, resource_type, param, target_id, resource_id, target_type);
CREATE INDEX search_reference_any_target ON search_reference (project_id, target_id);
CREATE INDEX search_reference_resource ON search_reference (project_id, resource_type, resource_id);

-- uri: the value as is.
CREATE TABLE search_uri (
    project_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    value         TEXT NOT NULL
);
CREATE INDEX search_uri_value ON search_uri (project_id, resource_type, param, value);
CREATE INDEX search_uri_resource ON search_uri (project_id, resource_type, resource_id);

-- +goose Down
DROP TABLE search_uri;
DROP TABLE search_reference;
DROP TABLE search_quantity;
DROP TABLE search_number;
DROP TABLE search_date;
DROP TABLE search_string;
DROP TABLE search_token;
DROP TABLE resource_compartments;
DROP TABLE resource_history;
DROP TABLE resources;
