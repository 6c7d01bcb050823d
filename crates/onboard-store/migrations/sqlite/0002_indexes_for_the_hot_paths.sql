-- Indexes reshaped after measuring the hot paths (crates/onboard-store/benches).

-- Cancelling an account's timers (all, or one rule's) no longer uses a partial index.
-- Timers fire in due order but belong to random accounts, so with the partial index every
-- timer fired removed an entry at a random place of it: one more page written per timer.
-- A full index is left alone by firing; a cancel reads past the account's few fired or
-- cancelled timers.
DROP INDEX timers_pending_account;
CREATE INDEX timers_account ON timers (account_id, rule);

-- Message lists are ordered by (created_at, id), newest first: with the id in the index
-- a page of the list is read straight off it, with no sort.
DROP INDEX messages_account;
DROP INDEX messages_status;
DROP INDEX messages_created;
CREATE INDEX messages_account ON messages (account_id, created_at, id);
CREATE INDEX messages_status ON messages (status, created_at, id);
CREATE INDEX messages_created ON messages (created_at, id);
