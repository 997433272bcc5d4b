-- Applied at every start by every subcommand that touches the database, under
-- an advisory lock: every statement must be idempotent.

CREATE TABLE IF NOT EXISTS users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL DEFAULT 'viewer'
                  CHECK (role IN ('admin', 'editor', 'viewer')),
    avatar_url    text        NOT NULL DEFAULT '',
    password_hash text        NOT NULL,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));

-- token, data and expiry are the layout of scs's postgresstore; token is the
-- hex SHA-256 of the cookie's value, never the value itself.
CREATE TABLE IF NOT EXISTS sessions (
    token       text        PRIMARY KEY,
    data        bytea       NOT NULL,
    expiry      timestamptz NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_active timestamptz NOT NULL DEFAULT now(),
    user_agent  text        NOT NULL DEFAULT '',
    ip          text        NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);

-- Live updates: every change that open pages must follow is announced on the
-- channel aistat_events from the transaction that makes it, so a rolled-back
-- change announces nothing and every instance hears every committed one,
-- whatever code path (site, command line, plain SQL) made it.
CREATE OR REPLACE FUNCTION aistat_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('aistat_events', json_build_object('kind', 'user_deleted', 'user', OLD.id)::text);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('aistat_events', json_build_object('kind', 'user_created', 'user', NEW.id)::text);
    ELSE
        PERFORM pg_notify('aistat_events', json_build_object('kind', 'user', 'user', NEW.id)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER users_inserted AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION aistat_notify_user();
CREATE OR REPLACE TRIGGER users_updated AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name
                    OR OLD.email IS DISTINCT FROM NEW.email
                    OR OLD.avatar_url IS DISTINCT FROM NEW.avatar_url
                    OR OLD.role IS DISTINCT FROM NEW.role
                    OR OLD.disabled IS DISTINCT FROM NEW.disabled)
    EXECUTE FUNCTION aistat_notify_user();
CREATE OR REPLACE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION aistat_notify_user();

-- One notification per user and statement for the live sessions it ended
-- (sign-out, revoke, cascade). Deleting expired rows announces nothing: open
-- streams end at their session's expiry by themselves. Past 500 sessions the
-- ids are left out (a payload holds 8000 bytes) and streams check their own.
CREATE OR REPLACE FUNCTION aistat_notify_sessions_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aistat_events', json_build_object(
                'kind', 'sessions_ended',
                'user', user_id,
                'sessions', CASE WHEN count(*) <= 500 THEN json_agg(id) END)::text)
    FROM ended
    WHERE expiry > now()
    GROUP BY user_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sessions_ended AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS ended
    FOR EACH STATEMENT EXECUTE FUNCTION aistat_notify_sessions_ended();
