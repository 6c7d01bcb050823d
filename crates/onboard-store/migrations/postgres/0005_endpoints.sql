-- Outbound endpoints (Slack incoming webhooks, signed Standard Webhooks), PostgreSQL flavour (the SQLite one in ../sqlite has the same intent).
-- The endpoints themselves (name, kind, URL, secret) are the server's configuration, not
-- data: URLs and secrets never enter the database. What lives here is only the operator-
-- visible state that deliveries change: an endpoint that answered 410 Gone (or Slack's
-- revoked / archived answers) is disabled until an operator enables it again, and every
-- node must see that.
--
-- This table does not grow with customers: one row per configured endpoint at most, and
-- only while it is disabled (enabling deletes the row), so it has no `account_id`.
CREATE TABLE endpoints (
    name        TEXT    PRIMARY KEY,
    -- When the endpoint was disabled (epoch ms, the engine's clock).
    disabled_at BIGINT NOT NULL,
    -- Why, e.g. "410 Gone from the webhook endpoint".
    reason      TEXT    NOT NULL
);
