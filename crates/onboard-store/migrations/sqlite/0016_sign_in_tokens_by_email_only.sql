-- A person's sign-in tokens are found through `sign_in_tokens_email` (email, account_id):
-- every query that asks for an account's tokens names the email too, and both columns
-- are equalities, so the index in the other order (`sign_in_tokens_person`) only cost a
-- page written at a random place for every token issued.
DROP INDEX sign_in_tokens_person;
