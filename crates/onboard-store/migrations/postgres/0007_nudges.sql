-- In-app nudges, as the processor last decided them (the account's state holds the same):
-- the table the product polls (`GET /v1/nudges`), so a poll reads a few indexed rows rather
-- than an account's whole state. `body` is the nudge as JSON.
CREATE TABLE nudges (
    id           TEXT PRIMARY KEY,
    account_id   TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    expires_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    body         TEXT    NOT NULL
);
-- A person's pending nudges, for polling.
CREATE INDEX nudges_pending ON nudges (account_id, email, expires_at) WHERE status = 'pending';
