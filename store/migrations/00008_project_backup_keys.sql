-- +goose Up
-- Each project's backup key (store/archive.go): the age X25519 identity its
-- archives are encrypted to. Erasing the project deletes it, and with it
-- the means to read any archive ever made of it (crypto-shredding).
CREATE TABLE project_backup_keys (
    project_id TEXT NOT NULL PRIMARY KEY,
    identity   TEXT NOT NULL
);

-- +goose Down
DROP TABLE project_backup_keys;
