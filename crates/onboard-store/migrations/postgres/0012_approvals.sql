-- Autopilot's approvals, as the processor last decided them (the account's state holds the
-- same): the queue the console lists across accounts. `body` is the approval as JSON.
CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    account_id   TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    body         TEXT    NOT NULL
);
-- The queue, oldest first, by status.
CREATE INDEX approvals_by_status ON approvals (status, created_at, id);
-- One account's approvals.
CREATE INDEX approvals_by_account ON approvals (account_id, created_at);
