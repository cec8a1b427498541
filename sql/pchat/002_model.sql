-- 002_model.sql — the Lync room model (research/anchors.md §1.2-1.6): category scopes
-- (allowed / denied / creators: users, domains, groups — denied wins), groups, add-ins,
-- persistent chat policies, invitations, per-user preferences and followed rooms.
-- Idempotent: safe to run again.

-- Groups stand in for AD distribution/security groups: named lists of user URIs
-- (lower-case; a user need not have signed in yet).
CREATE TABLE IF NOT EXISTS groups (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS groups_name_key ON groups (lower(name));

CREATE TABLE IF NOT EXISTS group_members (
    group_id  bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_uri  text NOT NULL CHECK (user_uri LIKE 'sip:%@%' AND user_uri = lower(user_uri)),
    PRIMARY KEY (group_id, user_uri)
);
CREATE INDEX IF NOT EXISTS group_members_user_idx ON group_members (user_uri);

-- Who a category is for. list: 0 allowed, 1 denied, 2 creator.
-- kind: 0 user (value = sip URI), 1 domain (value = example.com), 2 group (value = group name).
-- A user is in a category's scope when some allowed principal matches and no denied one
-- does (an empty allowed list means nobody). Values are stored lower-case.
CREATE TABLE IF NOT EXISTS category_principals (
    category_id  bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    list         smallint NOT NULL CHECK (list IN (0, 1, 2)),
    kind         smallint NOT NULL CHECK (kind IN (0, 1, 2)),
    value        text NOT NULL CHECK (value = lower(value) AND length(value) BETWEEN 1 AND 512),
    PRIMARY KEY (category_id, list, kind, value)
);

-- Add-ins: a named http(s) URL shown in the client's extensibility pane.
CREATE TABLE IF NOT EXISTS addins (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    url         text NOT NULL CHECK (url ~ '^https?://'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS addins_name_key ON addins (lower(name));
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS addin_id bigint REFERENCES addins(id) ON DELETE SET NULL;

-- Persistent chat policy (EnablePersistentChat). scope_kind: 0 global (scope ''), 1 domain
-- (site), 2 user (sip URI). The most specific row wins. The shipped global default is
-- disabled, as in the original product; the dev pool enables it.
CREATE TABLE IF NOT EXISTS chat_policies (
    scope_kind  smallint NOT NULL CHECK (scope_kind IN (0, 1, 2)),
    scope       text NOT NULL DEFAULT '' CHECK (scope = lower(scope)),
    enabled     boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_kind, scope)
);
INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (0, '', false)
    ON CONFLICT DO NOTHING;

-- Invitations: made when a user is granted membership of a room whose invitations are on;
-- cmd:getinv returns those not yet seen and marks them seen.
CREATE TABLE IF NOT EXISTS invitations (
    id          bigserial PRIMARY KEY,
    room_id     bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    invited_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz,
    UNIQUE (room_id, user_id)
);
CREATE INDEX IF NOT EXISTS invitations_unseen_idx ON invitations (user_id) WHERE seen_at IS NULL;

-- Rooms a user follows (kept on the server for every client of that user).
CREATE TABLE IF NOT EXISTS followed_rooms (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    room_id     bigint NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    followed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, room_id)
);

-- cmd:getpref / cmd:setpref blobs (base64 text as the client sends it).
CREATE TABLE IF NOT EXISTS user_prefs (
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 256),
    content     text NOT NULL CHECK (length(content) <= 65536),
    seqid       integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, label)
);

-- Full-text search over posts (the original's history search).
CREATE INDEX IF NOT EXISTS messages_body_fts_idx ON messages
    USING gin (to_tsvector('simple', body));
CREATE INDEX IF NOT EXISTS messages_room_time_idx ON messages (room_id, created_at);

-- Is a user (lower-case sip URI) in a category's scope: allowed by some principal and
-- denied by none (denied wins: the ethical wall)? Used by the workers and pchatctl alike.
CREATE OR REPLACE FUNCTION pchat_principal_matches(p_kind smallint, p_value text, p_uri text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE p_kind
        WHEN 0 THEN p_value = p_uri
        WHEN 1 THEN p_value = split_part(p_uri, '@', 2)
        ELSE EXISTS (SELECT 1 FROM groups g JOIN group_members m ON m.group_id = g.id
                      WHERE lower(g.name) = p_value AND m.user_uri = p_uri)
    END
$$;

CREATE OR REPLACE FUNCTION pchat_in_scope(p_category bigint, p_uri text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM category_principals p
                    WHERE p.category_id = p_category AND p.list = 0
                      AND pchat_principal_matches(p.kind, p.value, lower(p_uri)))
       AND NOT EXISTS (SELECT 1 FROM category_principals p
                        WHERE p.category_id = p_category AND p.list = 1
                          AND pchat_principal_matches(p.kind, p.value, lower(p_uri)))
$$;

-- Effective EnablePersistentChat of a user: user row, else domain row, else global row.
CREATE OR REPLACE FUNCTION pchat_chat_enabled(p_uri text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT enabled FROM chat_policies WHERE scope_kind = 2 AND scope = lower(p_uri)),
        (SELECT enabled FROM chat_policies WHERE scope_kind = 1
                                             AND scope = split_part(lower(p_uri), '@', 2)),
        (SELECT enabled FROM chat_policies WHERE scope_kind = 0 AND scope = ''),
        false)
$$;

INSERT INTO schema_migrations (version, name) VALUES (2, '002_model')
    ON CONFLICT (version) DO NOTHING;
