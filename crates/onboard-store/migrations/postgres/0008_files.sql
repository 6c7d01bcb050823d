-- Files of the Shared Space and self-serve kickoff bookings, PostgreSQL flavour (the SQLite
-- one in ../postgres has the same intent).

-- Files a customer's people uploaded to their Shared Space. The bytes live on disk under
-- the data directory (`files/<account>/<id>`), written to a temporary file and renamed
-- before this row is inserted: a row always has its file. A refused upload leaves neither.
CREATE TABLE files (
    id           TEXT    PRIMARY KEY,
    account_id   TEXT    NOT NULL,
    -- The name the uploader's browser gave, as shown and offered on download.
    name         TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    -- Decided from the extension and the content's magic bytes; never text/html.
    content_type TEXT    NOT NULL,
    -- Hex SHA-256 of the content.
    sha256       TEXT    NOT NULL,
    -- The uploader's email.
    uploaded_by  TEXT    NOT NULL,
    -- Epoch ms, the engine's clock.
    uploaded_at  BIGINT  NOT NULL,
    -- The project it belongs to, when the uploader chose one.
    project      TEXT
);
-- An account's files, newest first.
CREATE INDEX files_account ON files (account_id, uploaded_at);

-- The slots of each CSM's calendar taken by kickoff bookings: the intake's guard against two
-- accounts booking the same slot at once (the unique key refuses the second). The booking
-- itself (on the kickoff task, with its UID and SEQUENCE) is the account's state; a rebooking
-- moves the row of its task.
CREATE TABLE kickoff_slots (
    csm          TEXT    NOT NULL,
    -- Epoch ms.
    start_at     BIGINT  NOT NULL,
    end_at       BIGINT  NOT NULL,
    account_id   TEXT    NOT NULL,
    project      TEXT    NOT NULL,
    task         TEXT    NOT NULL,
    booked_at    BIGINT  NOT NULL,
    CONSTRAINT kickoff_slots_taken UNIQUE (csm, start_at),
    CONSTRAINT kickoff_slots_task UNIQUE (account_id, project, task)
);

-- An email's calendar invite (an iCalendar object, `METHOD:REQUEST`), sent as a
-- `text/calendar` part beside the text.
ALTER TABLE messages ADD COLUMN calendar TEXT;
