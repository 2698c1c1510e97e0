-- +goose Up
-- The rest-hook delivery queue (store/deliveries.go): one row per
-- (Subscription, change) the subscription dispatcher matched, written
-- before the dispatcher's outbox cursor moves past the change, deleted
-- once the hook accepted it or its attempts are spent. A worker claims a
-- due row by moving due_at past the lease and setting claim to a token of
-- its own; a worker that dies mid-POST leaves the row to be claimed again
-- when the lease ends, so a delivery waiting for a retry survives a
-- restart. No content is copied here: the resource is read under the
-- subscription author's principal when the POST is made.
-- project_id leads the primary key (Citus distributes by project); the
-- (project, subscription, change) key makes a re-dispatched change queue
-- nothing twice. The index on due_at alone serves the workers' claim
-- across projects.
CREATE TABLE subscription_deliveries (
    project_id      TEXT    NOT NULL,
    subscription_id TEXT    NOT NULL,
    change_seq      BIGINT  NOT NULL,
    resource_type   TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    version_id      TEXT    NOT NULL,
    interaction     TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    due_at          BIGINT  NOT NULL,
    claim           TEXT    NOT NULL,
    queued_at       BIGINT  NOT NULL,
    PRIMARY KEY (project_id, subscription_id, change_seq)
);
CREATE INDEX subscription_deliveries_due ON subscription_deliveries (due_at);

-- +goose Down
DROP INDEX subscription_deliveries_due;
DROP TABLE subscription_deliveries;
