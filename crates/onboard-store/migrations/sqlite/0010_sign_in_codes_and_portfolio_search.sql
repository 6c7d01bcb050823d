-- One-time sign-in codes and a faster portfolio search, SQLite flavour (the PostgreSQL one
-- in ../postgres has the same intent).

-- A sign-in code (six digits, emailed on request) is kept like a link's token, as a hash, in
-- `sign_in_tokens` with the purpose `code`. A code is guessable where a token is not, so
-- each wrong try of a person's live codes is counted here; at five a code is dead.
ALTER TABLE sign_in_tokens ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;

-- The portfolio's search text: the account's name and key lower-cased (by the writer, so
-- both backends fold case alike), one per line. A search is a plain substring test of this
-- column instead of lower-casing two columns of every row for each page.
ALTER TABLE portfolio ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE portfolio SET search = lower(name) || char(10) || lower(account_id);
-- The book by name (the default order): a page of the first 50 walks the index and stops,
-- whatever the search, instead of sorting every matching row.
CREATE INDEX portfolio_name ON portfolio (name, account_id);
