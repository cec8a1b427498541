-- 001_compliance.sql — the Compliance Store (mgccomp): events copied from the chat store's
-- outbox, idempotent by event id, deleted once every configured adapter accepted them.
-- Idempotent: safe to run again.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS events (
    event_id      uuid PRIMARY KEY,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    user_uri      text NOT NULL,
    user_name     text,
    room_uri      text,
    room_name     text,
    message_id    bigint,
    content       text,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_room_time_idx ON events (room_uri, occurred_at);

INSERT INTO schema_migrations (version, name) VALUES (1, '001_compliance')
    ON CONFLICT (version) DO NOTHING;
