-- Onboard's first schema, PostgreSQL flavour (the SQLite one in ../sqlite has the same
-- intent). Conventions:
--   * every time is a BIGINT of milliseconds since the Unix epoch (UTC), as on SQLite, so
--     both backends share one row model; due times and leases are compared with the
--     database's clock converted the same way;
--   * JSON documents are TEXT (never queried inside; cheaper than jsonb to write);
--   * every table that grows with customers carries `account_id`, so the schema can be
--     distributed by account (e.g. Citus);
--   * work that nodes race for (timers, messages) carries `locked_by` / `locked_until` /
--     `attempts`: a claim is a lease (taken with FOR UPDATE SKIP LOCKED), and the attempt
--     number fences its completion.
-- Released migrations are never edited: add a new numbered file instead.

-- Program versions, recorded once each with their source (JSON).
CREATE TABLE program_versions (
    version   TEXT PRIMARY KEY,
    source    TEXT   NOT NULL,
    loaded_at BIGINT NOT NULL
);

-- The append-only event log. `seq` is the position in the log; `event_key` is the dedupe
-- key; `processed_at` stays NULL until the processor has committed the event's
-- consequences.
CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    event_key    TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    account_id   TEXT   NOT NULL,
    at           BIGINT NOT NULL,
    data         TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    processed_at BIGINT,
    -- A redelivered event (same key) changes nothing.
    CONSTRAINT events_key_unique UNIQUE (event_key)
);
-- One account's history, and one type's, in log order.
CREATE INDEX events_account ON events (account_id, seq);
CREATE INDEX events_kind ON events (kind, seq);
-- The processor's queue: only unprocessed events are in it, so it stays small however
-- long the log grows (and counting the backlog reads only this index).
CREATE INDEX events_unprocessed ON events (seq) WHERE processed_at IS NULL;

-- What the processor knows about each account: the whole state as a JSON document, plus
-- the columns lists and filters need.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('active', 'paused', 'churned')),
    program_version TEXT   NOT NULL,
    csm             TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    state           TEXT   NOT NULL
);

-- Durable timers ("72h after deal won"). A pending timer is claimed by one scheduler for
-- a lease (`locked_by`, `locked_until`; `attempts` grows with each claim) and then fired
-- (its `timer.fired` event appended) or cancelled.
CREATE TABLE timers (
    id              TEXT PRIMARY KEY,
    account_id      TEXT   NOT NULL,
    rule            TEXT   NOT NULL,
    due_at          BIGINT NOT NULL,
    since_at        BIGINT NOT NULL,
    program_version TEXT   NOT NULL,
    state           TEXT   NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'fired', 'cancelled')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    locked_by       TEXT,
    locked_until    BIGINT,
    created_at      BIGINT NOT NULL,
    fired_at        BIGINT
);
-- The scheduler's only way in: pending timers by due time. Fired and cancelled timers
-- leave the index, so a claim never scans them.
CREATE INDEX timers_pending_due ON timers (due_at) WHERE state = 'pending';
-- Cancelling an account's pending timers (all, or one rule's).
CREATE INDEX timers_pending_account ON timers (account_id, rule) WHERE state = 'pending';

-- The outbox: messages decided by the processor, written in the same transaction as the
-- decision, delivered by dispatchers with retries. `message_id` is the stable idempotency
-- key (the RFC 5322 Message-ID).
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    account_id      TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    to_email        TEXT   NOT NULL,
    to_name         TEXT   NOT NULL,
    from_email      TEXT   NOT NULL,
    from_name       TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    rule            TEXT   NOT NULL,
    cause           TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    locked_by       TEXT,
    locked_until    BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    dead_at         BIGINT
);
-- The dispatchers' way in: queued messages by next attempt time.
CREATE INDEX messages_queued_due ON messages (next_attempt_at) WHERE status = 'queued';
-- Lists, newest first: one account's, by status (dead letters), and all.
CREATE INDEX messages_account ON messages (account_id, created_at);
CREATE INDEX messages_status ON messages (status, created_at);
CREATE INDEX messages_created ON messages (created_at);

-- Every delivery attempt of a message, numbered by the claim that made it.
CREATE TABLE message_attempts (
    message_id TEXT   NOT NULL,
    account_id TEXT   NOT NULL,
    n          BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    outcome    TEXT   NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dead')),
    error      TEXT,
    PRIMARY KEY (message_id, n)
);

-- Why each rule did or did not fire for each event of an account.
CREATE TABLE traces (
    id         BIGSERIAL PRIMARY KEY,
    account_id TEXT   NOT NULL,
    rule       TEXT   NOT NULL,
    event_key  TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    outcome    TEXT   NOT NULL,
    reason     TEXT   NOT NULL
);
CREATE INDEX traces_account ON traces (account_id, id);

-- Named leases (e.g. the processor's): one holder at a time; `epoch` grows each time the
-- lease changes hands and fences the writes made under it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT   NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
