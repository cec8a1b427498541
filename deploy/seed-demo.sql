-- seed-demo.sql — the demo category "Demo" and an open room in it, for `make run` and tests.
-- Idempotent: an existing category or room of the same name (case-insensitive) is kept as is.
-- The pool's own domain is let into the Demo category (an empty allowed list admits nobody)
-- and gets Persistent Chat by a domain policy (the shipped global default is disabled).
-- Usage: psql -v ON_ERROR_STOP=1 --single-transaction [-v room=NAME] [-v domain=D] -f deploy/seed-demo.sql

\if :{?room}
\else
\set room Lobby
\endif
\if :{?domain}
\else
\set domain example.com
\endif

INSERT INTO categories (name, description)
VALUES ('Demo', 'Demo category created by make run')
ON CONFLICT (lower(name)) DO NOTHING;

-- privacy 0 = open (anyone may find and join), type 0 = normal (everyone may post).
INSERT INTO rooms (name, description, category_id, privacy, type)
SELECT :'room', 'Open demo room created by make run', c.id, 0, 0
  FROM categories c
 WHERE lower(c.name) = lower('Demo')
ON CONFLICT (lower(name)) DO NOTHING;

INSERT INTO category_principals (category_id, list, kind, value)
SELECT c.id, 0, 1, lower(:'domain') FROM categories c WHERE lower(c.name) = lower('Demo')
ON CONFLICT DO NOTHING;

INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower(:'domain'), true)
ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true, updated_at = now();

-- One line for the caller: the room as it now stands.
SELECT format('room %s (id %s) in category %s, %s',
              r.name, r.id, c.name,
              CASE r.privacy WHEN 0 THEN 'open' WHEN 1 THEN 'closed' ELSE 'secret' END)
  FROM rooms r JOIN categories c ON c.id = r.category_id
 WHERE lower(r.name) = lower(:'room');
