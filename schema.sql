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
