-- An account's rule runs (how often each rule ran, and when last) become a part of their
-- own (see `onboard_core::stored`): they change only when a rule fires, where the core is
-- rewritten by every event, and they were most of the core's size.
INSERT INTO account_parts (account_id, part, doc)
SELECT id, 'rule_runs', json(coalesce(json_extract(state, '$.rule_runs'), '{}'))
FROM accounts
WHERE true
ON CONFLICT (account_id, part) DO NOTHING;

UPDATE accounts SET state = json_remove(state, '$.rule_runs');
