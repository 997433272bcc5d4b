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

-- Look-alike emails: email_skeleton is the Unicode TR39 skeleton of the
-- lower-cased email, computed by the app (aistat.emailSkeleton), so that
-- "аdmin@" with a Cyrillic "а" cannot sit beside "admin@": its unique index
-- refuses the second of two look-alikes even when two instances create them
-- at the same moment. NULL until the app computes it: rows written before
-- the column existed, or by hand, get theirs at the next migrate (Migrate
-- backfills after this file; of existing look-alikes the oldest account
-- keeps the skeleton and the others stay NULL).
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_skeleton text;
CREATE UNIQUE INDEX IF NOT EXISTS users_email_skeleton_key ON users (email_skeleton);

-- The user's language and time zone, chosen on /settings. NULL follows the
-- browser (locale) or the site's default (time_zone, --time-zone). The app
-- checks both (a language of the site, a zone of the IANA database); the
-- CHECK on locale keeps plain SQL from storing one no page can speak.
ALTER TABLE users ADD COLUMN IF NOT EXISTS locale text CHECK (locale IN ('ru', 'en'));
ALTER TABLE users ADD COLUMN IF NOT EXISTS time_zone text;

-- Whether the user has a second factor (a confirmed authenticator app, or
-- a passkey): the sign-in asks for it and the admin policy reads it. A
-- column of the user, kept by the code that adds and removes factors
-- (aistat.refreshSecondFactor), so that the request path's one query reads
-- it with the user.
ALTER TABLE users ADD COLUMN IF NOT EXISTS second_factor boolean NOT NULL DEFAULT false;

-- One-time set-up steps done on this database, such as creating the demo
-- accounts: each is done once and never again, whatever becomes of what it
-- made.
CREATE TABLE IF NOT EXISTS setup_steps (
    name    text        PRIMARY KEY,
    done_at timestamptz NOT NULL DEFAULT now()
);
-- A database that has any demo account was seeded before this table
-- existed: a deleted demo account must not come back with it.
INSERT INTO setup_steps (name)
SELECT 'demo_users' WHERE EXISTS (
    SELECT 1 FROM users WHERE lower(email) IN ('admin@ai-stat.ru', 'editor@ai-stat.ru', 'viewer@ai-stat.ru'))
ON CONFLICT (name) DO NOTHING;

-- token, data and expiry are the layout of scs's postgresstore; token is the
-- SHA-256 of the cookie's value (unpadded base64url, scs's hash), never the
-- value itself.
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

-- The name its owner gave the session's device on the sessions page, ''
-- for none (aistat.MaxDeviceNameLength).
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS name text NOT NULL DEFAULT '';

CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);
-- Serves "every session of a user" (sign-out everywhere, the cascade from
-- users) and the admin page's active sessions of one user, which reads only
-- the unexpired entries; it replaces the index on user_id alone.
CREATE INDEX IF NOT EXISTS sessions_user_expiry_idx ON sessions (user_id, expiry);
DROP INDEX IF EXISTS sessions_user_id_idx;

-- Why a session ended, for its browser's next page: written by the trigger
-- below for each live session deleted with a reason, kept a day
-- (aistat.EndedSessionRetention) and then deleted by the sessions cleanup.
-- token is the session's, the SHA-256 of the cookie's value.
CREATE TABLE IF NOT EXISTS ended_sessions (
    token    text        PRIMARY KEY,
    reason   text        NOT NULL,
    ended_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ended_sessions_ended_at_idx ON ended_sessions (ended_at);

-- The reason of a deleted session: 'deleted' when its user is gone (the
-- cascade from users), else what the deleting transaction set with
-- set_config('aistat.end_reason', ..., true); NULL for none, as for a
-- sign-out of one's own.
CREATE OR REPLACE FUNCTION aistat_end_reason(session_user_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = session_user_id) THEN 'deleted'
                ELSE nullif(current_setting('aistat.end_reason', true), '') END
$$;

CREATE OR REPLACE FUNCTION aistat_record_ended_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ended_sessions (token, reason)
    SELECT token, reason
    FROM (SELECT token, aistat_end_reason(user_id) AS reason FROM ended WHERE expiry > now()) e
    WHERE reason IS NOT NULL
    ON CONFLICT (token) DO UPDATE SET reason = EXCLUDED.reason, ended_at = EXCLUDED.ended_at;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sessions_ended_reason AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS ended
    FOR EACH STATEMENT EXECUTE FUNCTION aistat_record_ended_sessions();

-- The request path's one query: sessions joined with their users, for a
-- batch of tokens (one when a request is alone). It lives in a PL/pgSQL
-- function because PL/pgSQL keeps the plans of its queries for the life of
-- the connection, while the app sends the call as an unnamed statement:
-- planning the join on every request was a large part of a request's cost
-- (BENCHMARKS.md has what a request costs), and named prepared statements
-- do not survive PgBouncer's transaction pooling. The generic plan is
-- forced: for "= ANY (array)" PostgreSQL would otherwise keep re-planning
-- for each array it sees, at several times the cost of a call.
--
-- A token without a live session gets a row too when its end has a reason
-- (ended_sessions, or its row is there but expired or its user disabled):
-- end_reason says which, and the other columns are placeholders. The
-- second query runs only when the first found fewer sessions than tokens,
-- so live sessions cost what they did, and a dead cookie still costs one
-- round trip. Live rows have end_reason NULL.
DO $$
BEGIN
    -- A function's result columns cannot be changed in place: a function
    -- without the latest of them goes.
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'aistat_find_sessions'
               AND NOT ('second_factor' = ANY (coalesce(proargnames, '{}')))) THEN
        DROP FUNCTION aistat_find_sessions(text[]);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION aistat_find_sessions(session_tokens text[])
RETURNS TABLE (token text, data bytea, session_id bigint, expiry timestamptz, last_active timestamptz,
               user_id bigint, email text, name text, role text, avatar_url text,
               created_at timestamptz, updated_at timestamptz, end_reason text,
               locale text, time_zone text, second_factor boolean)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    found_rows bigint;
BEGIN
    RETURN QUERY
        SELECT s.token, s.data, s.id, s.expiry, s.last_active,
               u.id, u.email, u.name, u.role, u.avatar_url, u.created_at, u.updated_at, NULL::text,
               u.locale, u.time_zone, u.second_factor
        FROM sessions s
        JOIN users u ON u.id = s.user_id
        WHERE s.token = ANY (session_tokens) AND s.expiry > now() AND NOT u.disabled;
    GET DIAGNOSTICS found_rows = ROW_COUNT;
    IF found_rows < cardinality(session_tokens) THEN
        RETURN QUERY
            SELECT d.token, ''::bytea, 0::bigint, now(), now(),
                   0::bigint, '', '', '', '', now(), now(), d.reason, NULL::text, NULL::text, false
            FROM (SELECT t.tok AS token,
                         CASE WHEN s.token IS NULL THEN e.reason
                              WHEN s.expiry <= now() THEN 'expired'
                              WHEN u.disabled THEN 'disabled' END AS reason
                  FROM unnest(session_tokens) AS t(tok)
                  LEFT JOIN sessions s ON s.token = t.tok
                  LEFT JOIN users u ON u.id = s.user_id
                  LEFT JOIN ended_sessions e ON e.token = t.tok) d
            WHERE d.reason IS NOT NULL;
    END IF;
END
$$;

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
                    OR OLD.disabled IS DISTINCT FROM NEW.disabled
                    OR OLD.locale IS DISTINCT FROM NEW.locale
                    OR OLD.time_zone IS DISTINCT FROM NEW.time_zone)
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
                'sessions', CASE WHEN count(*) <= 500 THEN json_agg(id) END,
                'reason', aistat_end_reason(user_id))::text)
    FROM ended
    WHERE expiry > now()
    GROUP BY user_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sessions_ended AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS ended
    FOR EACH STATEMENT EXECUTE FUNCTION aistat_notify_sessions_ended();

-- The admin page's search: a case-insensitive substring of email or name,
-- found through trigram indexes (pg_trgm ships with PostgreSQL).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS users_name_trgm_idx ON users USING gin (lower(name) gin_trgm_ops);

-- What admins did to accounts. The actor and target ids are history, not
-- references: a row outlives both users (ids are never reused), and the
-- emails are copied as they were at the time.
CREATE TABLE IF NOT EXISTS audit_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     bigint      NOT NULL,
    actor_email  text        NOT NULL,
    action       text        NOT NULL,
    target_id    bigint      NOT NULL,
    target_email text        NOT NULL,
    detail       text        NOT NULL DEFAULT ''
);

-- One-time password reset links. token_hash is the SHA-256 of the link's
-- token, never the token itself.
CREATE TABLE IF NOT EXISTS password_resets (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX IF NOT EXISTS password_resets_user_id_idx ON password_resets (user_id);

-- What happened to an account, for its owner to see on the sessions page:
-- sign-ins, failed attempts, password changes, sessions ended. ip and
-- user_agent are the acting client's (empty for an admin's action). Rows go
-- after 90 days (aistat.SecurityEventRetention), batch by batch through the
-- created_at index.
CREATE TABLE IF NOT EXISTS security_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    ip         text        NOT NULL DEFAULT '',
    user_agent text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS security_events_user_idx ON security_events (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS security_events_created_idx ON security_events (created_at);

-- Sign-in throttling (see throttle.go): one row per account (lower-cased
-- email) and client address, and one per address across accounts, whose
-- email is ''. Every attempt upserts both rows by the primary key.
-- failures counts the streak, in_flight the attempts being checked right
-- now, blocked_until ends the current delay (NULL: none); a row is forgotten
-- at forget_at and then deleted through its index. refused is the verdict of
-- the latest attempt, which the statement that made it returns.
CREATE TABLE IF NOT EXISTS sign_in_throttle (
    addr          text        NOT NULL,
    email         text        NOT NULL,
    failures      integer     NOT NULL DEFAULT 0,
    in_flight     integer     NOT NULL DEFAULT 0,
    blocked_until timestamptz,
    forget_at     timestamptz NOT NULL,
    refused       boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (addr, email)
);

CREATE INDEX IF NOT EXISTS sign_in_throttle_forget_idx ON sign_in_throttle (forget_at);

-- Device cookies (see device.go): the key they are signed with, one row
-- that the first migration fills with a key generated by the app (gen_random_bytes
-- would need pgcrypto) and that every instance reads at start-up.
CREATE TABLE IF NOT EXISTS device_key (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea   NOT NULL
);

-- A device cookie is signed with its user's device_epoch, which every change
-- of the password hash bumps, whatever code or SQL made it: a new password
-- invalidates the account's device cookies.
ALTER TABLE users ADD COLUMN IF NOT EXISTS device_epoch bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION aistat_bump_device_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.device_epoch := OLD.device_epoch + 1;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER users_password_changed BEFORE UPDATE OF password_hash ON users
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION aistat_bump_device_epoch();

-- Uploaded avatars (see avatar.go), named by the SHA-256 of the 256-pixel
-- JPEG: a user's avatar_url is /avatars/<hash>.jpg. used_at is the last
-- time a user was given the picture; the cleanup deletes those no user
-- shows once it is older than aistat.AvatarGrace.
CREATE TABLE IF NOT EXISTS avatars (
    hash    text        PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    large   bytea       NOT NULL,
    small   bytea       NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now()
);

-- An avatar URL is https from now on (aistat.Profile). One stored as http,
-- which the Content-Security-Policy no longer lets a page load and which
-- the profile form would refuse at its next save, is upgraded, as browsers
-- upgrade such an image on an https page.
UPDATE users SET avatar_url = 'https://' || substr(avatar_url, 8)
 WHERE avatar_url ILIKE 'http://%';
-- Mail waiting to be sent, and mail that was (see outbox.go): every mail is
-- written here in the transaction of the change that causes it, so a change
-- that rolls back sends nothing and one that commits cannot lose its mail.
-- The worker of each instance claims due rows with FOR UPDATE SKIP LOCKED
-- and pushes next_attempt_at past the send's lease, so no two instances send
-- one mail at once; message_key makes the Message-ID, the same at every
-- attempt, so a mail sent again after a crash is a repeat the receiving
-- side can recognise. data holds what the mail says (a link's path among
-- it), rendered at sending in the recipient's language (locale, NULL for
-- the site's default); a link's path is removed once the mail is sent or
-- given up. Sent rows go after a week, failed ones after 30 days.
CREATE TABLE IF NOT EXISTS mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    locale          text,
    data            jsonb       NOT NULL DEFAULT '{}',
    message_key     uuid        NOT NULL DEFAULT gen_random_uuid(),
    status          text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);

CREATE INDEX IF NOT EXISTS mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS mail_outbox_done_idx ON mail_outbox (status, done_at) WHERE status <> 'queued';

-- A new mail wakes the workers of every instance at once, on a channel of
-- its own that the live hub's connection also listens on; they also look
-- for due mail on their own, so a lost notification only delays. The
-- trigger is per statement, and fires for one that inserts no row too (a
-- forgotten password for an unknown email): the work is the same either
-- way, and the notifications of one transaction fold into one.
CREATE OR REPLACE FUNCTION aistat_notify_mail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aistat_mail', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER mail_outbox_inserted AFTER INSERT ON mail_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION aistat_notify_mail();

-- How often mail was asked for (a forgotten password), per client address
-- ('addr:' and the address) and per email ('email:' and the lower-cased
-- email), in windows that start at the first request: see outbox.go.
CREATE TABLE IF NOT EXISTS mail_throttle (
    key        text        PRIMARY KEY,
    hits       integer     NOT NULL,
    window_end timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS mail_throttle_window_idx ON mail_throttle (window_end);

-- Invitations (see invitations.go): an account whose person has not chosen
-- a password yet has an empty password_hash; the admin page lists them.
CREATE INDEX IF NOT EXISTS users_pending_idx ON users (id) WHERE password_hash = '';

-- New email addresses waiting for their confirmation (see email_change.go):
-- the account keeps its address until the link mailed to the new one is
-- used. token_hash is the SHA-256 of the link's token.
CREATE TABLE IF NOT EXISTS email_changes (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS email_changes_user_idx ON email_changes (user_id);

-- Authenticator apps (TOTP, see twofactor.go): one per user. A row without
-- confirmed_at is an enrolment waiting for its first code; last_step is
-- the time step of the last code accepted, so that no code counts twice.
CREATE TABLE IF NOT EXISTS totp_secrets (
    user_id      bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       text        NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes, each the SHA-256 of a code shown once; good once.
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id   bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea       NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Sign-ins waiting for their second step: the password was right, and the
-- browser holds the token whose SHA-256 is token_hash, but no session.
CREATE TABLE IF NOT EXISTS login_challenges (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember   boolean     NOT NULL,
    next       text        NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS login_challenges_expires_idx ON login_challenges (expires_at);
-- Passkeys (see passkeys.go). A user's handle is random, created with
-- their first ceremony; credential is the library's record as JSON, whose
-- signature counter is sign_count's; cloned disables a passkey whose
-- counter went backwards. A ceremony's challenge waits in
-- passkey_challenges for its one answer until expires_at; user_id is NULL
-- for a sign-in, where nobody is known yet.
CREATE TABLE IF NOT EXISTS passkey_handles (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  bytea  NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS passkeys (
    id            bigserial   PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea       NOT NULL UNIQUE,
    name          text        NOT NULL,
    credential    jsonb       NOT NULL,
    sign_count    bigint      NOT NULL DEFAULT 0,
    cloned        boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);

CREATE INDEX IF NOT EXISTS passkeys_user_idx ON passkeys (user_id);

CREATE TABLE IF NOT EXISTS passkey_challenges (
    challenge  text        PRIMARY KEY,
    purpose    text        NOT NULL,
    user_id    bigint      REFERENCES users (id) ON DELETE CASCADE,
    session    jsonb       NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS passkey_challenges_expiry_idx ON passkey_challenges (expires_at);
