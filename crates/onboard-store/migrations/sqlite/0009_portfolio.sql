-- The portfolio: one small row per account with what the console filters and sorts by
-- (onboard_core::portfolio::Summary), written with each processed batch for the accounts
-- whose summary changed. A page of thousands of accounts reads these rows, never the
-- accounts' state documents. Rows are filled for accounts that predate this table when the
-- engine starts.
CREATE TABLE portfolio (
    account_id      TEXT PRIMARY KEY,
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    csm             TEXT,
    stage           TEXT    NOT NULL,
    progress        INTEGER NOT NULL,
    deal_won_at     INTEGER,
    aha_at          INTEGER,
    health          INTEGER,
    goal_status     TEXT,
    overdue_tasks   INTEGER NOT NULL,
    open_alerts     INTEGER NOT NULL,
    last_alert_at   INTEGER,
    open_team_tasks INTEGER NOT NULL,
    -- When the account becomes stalled (a person still without an Academy sign-in 72 hours
    -- after the deal); compared with the reader's time.
    stalled_from    INTEGER,
    power_user      INTEGER NOT NULL,
    people          INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- A CSM's book, which is what the console shows by default.
CREATE INDEX portfolio_csm ON portfolio (csm, name);

-- Console passwords of team members (the team itself is in the program): an argon2 PHC
-- string per email. A member without a row signs in by email link only.
CREATE TABLE team_credentials (
    email         TEXT PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- How often each rule fired since a time (the console's program page): read off the fired
-- traces alone, which are few beside the skipped ones.
CREATE INDEX traces_fired ON traces (at, rule) WHERE outcome = 'fired';
