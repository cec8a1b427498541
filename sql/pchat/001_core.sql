-- 001_core.sql — the Persistent Chat Store: users, categories, rooms, roles, messages, room
-- events, live participants, server options, and the compliance outbox.
-- Idempotent: safe to run again. Applied by sql/migrate.sh, which records it in
-- schema_migrations; binaries refuse to start against a store older than they need.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
    id            bigserial PRIMARY KEY,
    uri           text NOT NULL UNIQUE CHECK (uri LIKE 'sip:%@%'),
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS categories (
    id            bigserial PRIMARY KEY,
    guid          uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    file_upload   boolean NOT NULL DEFAULT false,
    invitations   boolean NOT NULL DEFAULT true,
    chat_history  boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS categories_name_key ON categories (lower(name));

-- privacy: 0 open, 1 closed, 2 secret. type: 0 normal, 1 auditorium.
CREATE TABLE IF NOT EXISTS rooms (
    id            bigserial PRIMARY KEY,
    guid          uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description   text NOT NULL DEFAULT '',
    topic         text NOT NULL DEFAULT '',
    category_id   bigint NOT NULL REFERENCES categories(id),
    privacy       smallint NOT NULL DEFAULT 1 CHECK (privacy IN (0, 1, 2)),
    type          smallint NOT NULL DEFAULT 0 CHECK (type IN (0, 1)),
    disabled      boolean NOT NULL DEFAULT false,
    invitations   smallint NOT NULL DEFAULT 0 CHECK (invitations IN (0, 1)), -- 0 inherit, 1 off
    last_seq      bigint NOT NULL DEFAULT 0,   -- per-room event sequence (posts, joins, parts)
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS rooms_name_key ON rooms (lower(name));
CREATE INDEX IF NOT EXISTS rooms_category_idx ON rooms (category_id);

-- role: 0 member, 1 manager, 2 presenter.
CREATE TABLE IF NOT EXISTS room_roles (
    room_id     bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        smallint NOT NULL CHECK (role IN (0, 1, 2)),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id, role)
);
CREATE INDEX IF NOT EXISTS room_roles_user_idx ON room_roles (user_id);

-- Posts. seq is the room's event sequence at the time of the post; request_key makes a
-- re-dispatched post idempotent (front end id, incarnation, request id).
CREATE TABLE IF NOT EXISTS messages (
    id           bigserial PRIMARY KEY,
    room_id      bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    author_id    bigint NOT NULL REFERENCES users(id),
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    request_key  text UNIQUE,
    UNIQUE (room_id, seq)
);

-- Join/part notices and operator changes share the room's sequence with posts so a front
-- end can detect and repair any gap; kept for gap repair, not as history.
-- kind: 1 join, 2 part, 3 change (detail: users evicted, comma-separated URIs).
CREATE TABLE IF NOT EXISTS room_events (
    room_id      bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    kind         smallint NOT NULL,
    user_id      bigint REFERENCES users(id),     -- NULL for an operator change
    frontend_id  text NOT NULL DEFAULT '',
    session_id   bigint NOT NULL DEFAULT 0,
    manager      boolean NOT NULL DEFAULT false,
    quiet        boolean NOT NULL DEFAULT false,  -- not shown (same user already in the room,
                                                  -- or above the participant-update limit)
    detail       text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (room_id, seq)
);

-- Who is in which room right now, through which front end session.
CREATE TABLE IF NOT EXISTS participants (
    room_id      bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    frontend_id  text NOT NULL,
    incarnation  bigint NOT NULL,
    session_id   bigint NOT NULL,
    user_id      bigint NOT NULL REFERENCES users(id),
    joined_seq   bigint NOT NULL,
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (frontend_id, session_id, room_id)
);
CREATE INDEX IF NOT EXISTS participants_room_idx ON participants (room_id);

-- Server options (Set-CsPersistentChatConfiguration); the config file gives the defaults.
CREATE TABLE IF NOT EXISTS server_options (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

-- Compliance outbox: written in the same transaction as the action it records; drained by
-- pchat-compliance into mgccomp. event_type: JOIN, PART, CHAT, BACKCHAT, FILEUPLOAD,
-- FILEDOWNLOAD, or an ADMIN_* operator action.
CREATE TABLE IF NOT EXISTS compliance_outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    user_uri      text NOT NULL,
    user_name     text,
    room_uri      text,
    room_name     text,
    message_id    bigint,
    content       text
);

-- Front end nodes of the pool and their state (pchatctl pool status).
CREATE TABLE IF NOT EXISTS pool_nodes (
    node_id      text PRIMARY KEY,
    role         text NOT NULL,
    address      text NOT NULL DEFAULT '',
    incarnation  bigint NOT NULL DEFAULT 0,
    state        text NOT NULL DEFAULT 'active',
    sessions     integer NOT NULL DEFAULT 0,
    workers      integer NOT NULL DEFAULT 0,
    last_seen    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version, name) VALUES (1, '001_core')
    ON CONFLICT (version) DO NOTHING;
