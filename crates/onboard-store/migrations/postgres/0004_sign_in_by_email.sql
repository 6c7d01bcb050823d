-- A person asks for a new sign-in link with nothing but their email address: find the
-- accounts where that address was ever sent a link.
CREATE INDEX sign_in_tokens_email ON sign_in_tokens (email, account_id);
