-- +goose Up
-- The widest [low, high] range stored per date parameter, so a search for
-- "high >= A" can also bound "low >= A - width" and scan the low index over
-- a narrow range instead of half of it. Widths only grow (until reindex).
CREATE TABLE search_date_width (
    project_id    TEXT   NOT NULL,
    resource_type TEXT   NOT NULL,
    param         TEXT   NOT NULL,
    width         BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource_type, param)
);
INSERT INTO search_date_width (project_id, resource_type, param, width)
SELECT project_id, resource_type, param,
       MAX(CASE WHEN low < -4611686018427387904 OR high > 4611686018427387904 THEN 9223372036854775807 ELSE high - low END)
FROM search_date GROUP BY project_id, resource_type, param;

-- +goose Down
DROP TABLE search_date_width;
