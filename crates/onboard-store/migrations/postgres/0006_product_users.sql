-- Product usage linked to accounts, PostgreSQL flavour (the SQLite one in ../sqlite has the
-- same intent). The product's users arrive through the Segment-compatible intake (`/v1/*`)
-- by their own ids; which account an event belongs to is decided at intake, in the same
-- transaction that appends it, from what these tables know. Concurrent intake transactions
-- lock the rows of the users they resolve (and, by advisory lock, the emails they read),
-- so a user is linked, and their held events moved, exactly once.

-- The product's users: `user_id` is the Segment userId, or `anon:<anonymousId>` for a user
-- known only by an anonymous id. `account_id` is NULL until the user is linked (by an
-- email a person of exactly one account has, by a linked group, or by an alias), and
-- then never changes; `email` is the email the user identified with (lower case);
-- `group_id` the last Segment group the user was seen in; `alias_of` the user an alias
-- call said this one is (followed once, when that one is linked).
CREATE TABLE product_users (
    user_id       TEXT PRIMARY KEY,
    account_id    TEXT,
    email         TEXT,
    group_id      TEXT,
    alias_of      TEXT,
    first_seen_at BIGINT NOT NULL,
    linked_at     BIGINT
);
-- When the processor adds people, the users who identified with their email and are not
-- linked yet are found here.
CREATE INDEX product_users_unlinked_email ON product_users (email)
    WHERE account_id IS NULL AND email IS NOT NULL;

-- Which accounts know a person by email: filled when the processor commits new people.
CREATE TABLE people_index (
    email      TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (email, account_id)
);

-- A product group (Segment groupId) linked to an account, by the group's domain or
-- website, or because its id is the account's id.
CREATE TABLE product_groups (
    group_id   TEXT PRIMARY KEY,
    account_id TEXT   NOT NULL,
    linked_at  BIGINT NOT NULL
);

-- Events of users not linked yet, in arrival order (`n`). They carry no account id
-- because they have none yet: when their user is linked they move, with the same keys and
-- in this order, into the event log under the account, and leave this table. `key` is
-- the event's dedupe key: a key here or in the log is a duplicate.
CREATE TABLE usage_held (
    key         TEXT PRIMARY KEY,
    n           BIGSERIAL NOT NULL,
    user_id     TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    data        TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);
-- One user's held events, in arrival order.
CREATE INDEX usage_held_user ON usage_held (user_id, n);

-- An account's web domain as a column, so a product group's domain finds its account.
ALTER TABLE accounts ADD COLUMN domain TEXT;
UPDATE accounts SET domain = state::jsonb ->> 'domain';
CREATE INDEX accounts_domain ON accounts (domain) WHERE domain IS NOT NULL;
