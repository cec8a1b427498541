-- 002_delivery.sql — per-adapter delivery state, so that every adapter instance stores every
-- event exactly once across crashes (docs/compliance.md, "Why exactly once").
-- Idempotent: safe to run again.

-- seq orders the store: pchat-compliance inserts under one advisory lock, so seq values commit
-- in increasing order and "every event with seq <= N" is a fixed set once N is visible.
CREATE SEQUENCE IF NOT EXISTS events_seq AS bigint;
ALTER TABLE events ADD COLUMN IF NOT EXISTS seq bigint NOT NULL DEFAULT nextval('events_seq');
ALTER SEQUENCE events_seq OWNED BY events.seq;
CREATE UNIQUE INDEX IF NOT EXISTS events_seq_key ON events (seq);

-- Delivery reads events by seq and groups them into conversations in memory; nothing reads
-- by (room, time), and the index cost every insert.
DROP INDEX IF EXISTS events_room_time_idx;

-- What the chat store knew when the event was copied (the room may be gone by delivery time).
ALTER TABLE events ADD COLUMN IF NOT EXISTS user_id bigint;
ALTER TABLE events ADD COLUMN IF NOT EXISTS room_category text;
ALTER TABLE events ADD COLUMN IF NOT EXISTS room_description text;
ALTER TABLE events ADD COLUMN IF NOT EXISTS room_privacy smallint;
ALTER TABLE events ADD COLUMN IF NOT EXISTS room_type smallint;

-- One row per configured adapter instance (compliance.adapters[].name), shared by every
-- compliance worker of the pool. Events are deleted once seq <= delivered_seq of every
-- adapter that is not retired.
CREATE TABLE IF NOT EXISTS adapters (
    name                  text PRIMARY KEY,
    type                  text NOT NULL,
    retired               boolean NOT NULL DEFAULT false,
    delivered_seq         bigint NOT NULL DEFAULT 0,   -- every event up to here is delivered
    next_batch            bigint NOT NULL DEFAULT 1,   -- number of the next batch to form
    run_until_seq         bigint,                      -- horizon of the run in progress
    run_started_at        timestamptz,
    next_run_at           timestamptz NOT NULL DEFAULT now(),
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_success_at       timestamptz,
    last_success_batch    bigint,
    last_failure_at       timestamptz,
    last_error            text,
    delivered_events      bigint NOT NULL DEFAULT 0,
    registered_at         timestamptz NOT NULL DEFAULT now(),
    last_seen_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_by          text NOT NULL DEFAULT ''
);

-- The delivery ledger. A batch is fixed (its seq range, hence its events and its number)
-- and committed before the adapter first sees it; delivered_at is set after the adapter
-- accepted it. At most one batch per adapter is open at a time.
CREATE TABLE IF NOT EXISTS batches (
    adapter       text NOT NULL REFERENCES adapters (name) ON DELETE CASCADE,
    number        bigint NOT NULL,
    after_seq     bigint NOT NULL,                     -- events with after_seq < seq <= last_seq
    last_seq      bigint NOT NULL,
    event_count   integer NOT NULL,
    formed_at     timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    delivered_at  timestamptz,
    delivered_by  text,
    PRIMARY KEY (adapter, number),
    CHECK (last_seq > after_seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS batches_open_key ON batches (adapter) WHERE delivered_at IS NULL;

INSERT INTO schema_migrations (version, name) VALUES (2, '002_delivery')
    ON CONFLICT (version) DO NOTHING;
