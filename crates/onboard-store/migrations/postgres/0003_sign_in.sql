-- Signing people in by email, PostgreSQL flavour (the SQLite one in ../sqlite has the same
-- intent): single-use sign-in links (magic links) and the sessions they open, the sign-in
-- link an outbox message carries, and the CSMs' load.
-- Like every table that grows with customers, both new tables carry `account_id`.

-- The person whose personal sign-in link a message's body stands for. The link's token is
-- random, so it is made at delivery (one per attempt) and never stored in the message.
ALTER TABLE messages ADD COLUMN sign_in_email TEXT;

-- Sign-in tokens. Only a hash of each token is kept (the token itself is only in the link);
-- a token is single use (`used_at`), expires (`expires_at`, the first instant it is
-- refused), and is revoked (`revoked_at`) when a newer one is issued to the same person.
-- `message_id` is the outbox message that carried it, if any.
CREATE TABLE sign_in_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT   NOT NULL,
    email      TEXT   NOT NULL,
    purpose    TEXT   NOT NULL,
    message_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
-- One person's tokens: revoked on each issue, counted to tell the first link from later ones.
CREATE INDEX sign_in_tokens_person ON sign_in_tokens (account_id, email);

-- Sessions opened by a sign-in. Only a hash of the session id (the cookie) is kept. A
-- session lives until `expires_at` (the first instant it is refused) or until ended.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    account_id TEXT   NOT NULL,
    email      TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
-- One person's sessions (to list or end them all).
CREATE INDEX sessions_person ON sessions (account_id, email);

-- The CSMs' load (active accounts per CSM) is counted from this small index alone: without
-- it every count would read the whole accounts table, state documents and all. The price
-- is one more index entry written per account upsert.
CREATE INDEX accounts_active_csm ON accounts (csm) WHERE status = 'active';
