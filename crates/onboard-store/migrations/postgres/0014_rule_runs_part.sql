-- An account's rule runs (how often each rule ran, and when last) become a part of their
-- own (see `onboard_core::stored`): they change only when a rule fires, where the core is
-- rewritten by every event, and they were most of the core's size.
INSERT INTO account_parts (account_id, part, doc)
SELECT id, 'rule_runs', coalesce(state::jsonb -> 'rule_runs', '{}'::jsonb)::text
FROM accounts
ON CONFLICT (account_id, part) DO NOTHING;

UPDATE accounts SET state = (state::jsonb - 'rule_runs')::text;
