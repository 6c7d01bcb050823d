-- Account states are stored as a core (`accounts.state`) and parts, one row each: deals,
-- people, projects, team tasks, goals and alerts (see `onboard_core::stored`). A batch
-- rewrites the core of each account it touched and only the parts that changed.
CREATE TABLE account_parts (
    account_id TEXT NOT NULL,
    part       TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (account_id, part)
);

-- Every account stored whole until now is split into its core and its parts.
INSERT INTO account_parts (account_id, part, doc)
SELECT a.id, p.part, json(coalesce(json_extract(a.state, '$.' || p.part), '[]'))
FROM accounts a,
     (SELECT 'deals' AS part UNION ALL SELECT 'people' UNION ALL SELECT 'projects'
      UNION ALL SELECT 'team_tasks' UNION ALL SELECT 'goals' UNION ALL SELECT 'alerts') p;

UPDATE accounts
SET state = json_remove(state, '$.deals', '$.people', '$.projects', '$.team_tasks',
                        '$.goals', '$.alerts');
