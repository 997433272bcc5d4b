package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"aistat"
)

// Session data keys. The session holds nothing else: the profile is read
// from the users table on every request.
const (
	keyUserID  = "user_id"
	keyCreated = "created"
	keyFlash   = "flash"
	// keyRemember is scs's own key of RememberMe: a persistent cookie and
	// the long idle timeout.
	keyRemember = "__rememberMe"
	// keyResetLink is a reset link issued by an admin, until its page
	// shows it once.
	keyResetLink = "reset_link"
	// keyAuthAt is when the user last gave their password again (Unix
	// seconds), after signing in: dangerous actions want a recent one.
	keyAuthAt = "auth_at"
)

// maxUserAgent bounds what is kept of a client's User-Agent header.
const maxUserAgent = 512

// Config is how sessions behave.
type Config struct {
	// Lifetime is the idle timeout: a session unused this long expires.
	Lifetime time.Duration
	// MaxAge caps a session's life from sign-in, however active it is.
	MaxAge time.Duration
	// Refresh is how often a session's expiry and last-active time may be
	// written; reads in between write nothing.
	Refresh time.Duration
	// AdminLifetime and AdminMaxAge are the shorter idle timeout and
	// maximum age of the sessions of admins, whose sessions can do the most
	// harm in the wrong hands; zero keeps Lifetime and MaxAge. They follow
	// the user's current role on every request: a session promoted to admin
	// ends by them at once, one demoted keeps its shorter expiry until its
	// next refresh.
	AdminLifetime time.Duration
	AdminMaxAge   time.Duration
	// ShortLifetime is the idle timeout of a session signed in without
	// "Keep me signed in", whose cookie also ends with the browser's
	// session; zero keeps Lifetime. The choice is in the session's data,
	// which the request's one query reads anyway.
	ShortLifetime time.Duration
	// SecureCookies marks the cookie Secure and names it __Host-session,
	// for sites served over HTTPS.
	SecureCookies bool
}

// Manager loads the session of every request it wraps and signs users in
// and out.
type Manager struct {
	scs   *scs.SessionManager
	store *Store
	cfg   Config
}

// New returns a manager keeping sessions in db.
func New(db *sql.DB, cfg Config) *Manager {
	store := NewStore(db)
	sm := scs.New()
	sm.Store = store
	sm.HashTokenInStore = true
	sm.Codec = codec{}
	// An idle timeout in scs would write the session on every request;
	// the sliding expiry is ours, written once per refresh interval.
	sm.IdleTimeout = 0
	sm.Lifetime = min(cfg.Lifetime, cfg.MaxAge)
	sm.Cookie.Name = "session"
	if cfg.SecureCookies {
		sm.Cookie.Name = "__Host-session"
	}
	sm.Cookie.Path = "/"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.SecureCookies
	// A cookie outlives the browser only for a session that asked to be
	// kept (RememberMe at sign-in).
	sm.Cookie.Persist = false
	return &Manager{scs: sm, store: store, cfg: cfg}
}

// Store is the manager's session store.
func (m *Manager) Store() *Store { return m.store }

// CookieName is the name of the session cookie.
func (m *Manager) CookieName() string { return m.scs.Cookie.Name }

// SetErrorFunc sets how a failure to load or save a session is answered.
func (m *Manager) SetErrorFunc(fn func(http.ResponseWriter, *http.Request, error)) {
	m.scs.ErrorFunc = fn
}

// Handler loads the request's session and its user before next runs and
// saves the session, when it changed, before the response is written. A
// request without a session cookie costs no query.
func (m *Manager) Handler(next http.Handler) http.Handler {
	loaded := m.scs.LoadAndSave(m.resolve(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Stored as text, which holds neither invalid UTF-8 nor NUL.
		ua := strings.ToValidUTF8(strings.ReplaceAll(r.UserAgent(), "\x00", ""), "")
		if len(ua) > maxUserAgent {
			ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
		}
		st := &state{userAgent: ua, ip: remoteIP(r)}
		loaded.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

// resolve makes the user the store found the request's user and slides the
// session's expiry when the refresh interval has passed.
func (m *Manager) resolve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st := stateFrom(ctx)
		if f := st.row; st.phase == sessionFound && m.scs.GetInt64(ctx, keyUserID) == f.user.ID {
			now, created := time.Now(), time.Unix(m.scs.GetInt64(ctx, keyCreated), 0)
			remember := m.scs.GetBool(ctx, keyRemember)
			lifetime, maxAge := m.limits(f.user.Role, remember)
			// The stored expiry follows the role the user had at the last
			// refresh; the current role's limits hold from this request on,
			// without a write.
			expiry := f.expiry
			for _, limit := range []time.Time{f.lastActive.Add(lifetime), created.Add(maxAge)} {
				if limit.Before(expiry) {
					expiry = limit
				}
			}
			if !now.Before(expiry) {
				st.expire(expiry)
				m.expireCookie(w)
			} else {
				if now.Sub(f.lastActive) >= m.cfg.Refresh {
					expiry = m.deadline(now, created, f.user.Role, remember)
					m.scs.SetDeadline(ctx, expiry)
				}
				st.admit(expiry)
			}
		} else if st.endReason != "" {
			// The page tells why once; the cookie goes, so the requests
			// after it cost no query. A sign-in in this request sets a new
			// one after this.
			m.expireCookie(w)
		}
		next.ServeHTTP(w, r)
	})
}

// expireCookie tells the browser to drop its session cookie.
func (m *Manager) expireCookie(w http.ResponseWriter) {
	c := m.scs.Cookie
	http.SetCookie(w, &http.Cookie{
		Name:     c.Name,
		Value:    "",
		Path:     c.Path,
		Domain:   c.Domain,
		MaxAge:   -1,
		Expires:  time.Unix(1, 0),
		HttpOnly: c.HttpOnly,
		Secure:   c.Secure,
		SameSite: c.SameSite,
	})
}

// limits are the idle timeout and maximum age of a session of a user with
// role, kept signed in (remember) or not.
func (m *Manager) limits(role aistat.Role, remember bool) (lifetime, maxAge time.Duration) {
	lifetime, maxAge = m.cfg.Lifetime, m.cfg.MaxAge
	if !remember && m.cfg.ShortLifetime > 0 {
		lifetime = min(lifetime, m.cfg.ShortLifetime)
	}
	if role == aistat.RoleAdmin {
		if m.cfg.AdminLifetime > 0 {
			lifetime = min(lifetime, m.cfg.AdminLifetime)
		}
		if m.cfg.AdminMaxAge > 0 {
			maxAge = min(maxAge, m.cfg.AdminMaxAge)
		}
	}
	return lifetime, maxAge
}

// deadline is when a session of a user with role, used at now, expires:
// after the idle timeout, but never later than its maximum age.
func (m *Manager) deadline(now, created time.Time, role aistat.Role, remember bool) time.Time {
	lifetime, maxAge := m.limits(role, remember)
	d, limit := now.Add(lifetime), created.Add(maxAge)
	if limit.Before(d) {
		d = limit
	}
	return d.UTC()
}

// Login signs user in: a new token (so a token planted before sign-in is
// worthless), a new session row owned by the user. A session kept signed
// in (remember) has a cookie that outlives the browser and the long idle
// timeout; any other, a cookie the browser forgets when it closes and the
// short one.
func (m *Manager) Login(ctx context.Context, user *aistat.User, remember bool) error {
	if err := m.scs.RenewToken(ctx); err != nil {
		return err
	}
	if err := m.scs.Clear(ctx); err != nil {
		return err
	}
	now := time.Now()
	expiry := m.deadline(now, now, user.Role, remember)
	stateFrom(ctx).signIn(user, expiry)
	m.scs.Put(ctx, keyUserID, user.ID)
	m.scs.Put(ctx, keyCreated, now.Unix())
	m.scs.RememberMe(ctx, remember)
	m.scs.SetDeadline(ctx, expiry)
	return nil
}

// Renew gives the request's session a new token, as after a password
// change, and keeps everything else: its row and id (so its open pages stay
// signed in), its data, its expiry. The old token stops working.
func (m *Manager) Renew(ctx context.Context) error {
	st := stateFrom(ctx)
	if st == nil || !st.signedInFound() {
		return errors.New("renew session: the request has no stored session")
	}
	deadline := m.scs.Deadline(ctx)
	st.renew()
	if err := m.scs.RenewToken(ctx); err != nil {
		st.keep()
		return fmt.Errorf("renew session: %w", err)
	}
	m.scs.SetDeadline(ctx, deadline)
	return nil
}

// AuthenticatedAt is when the request's user last proved who they are: the
// later of the sign-in and the last re-authentication (MarkAuthenticated).
// Zero when the request is anonymous. Both are in the session's data, which
// the request's one query reads anyway.
func (m *Manager) AuthenticatedAt(ctx context.Context) time.Time {
	if User(ctx) == nil {
		return time.Time{}
	}
	return time.Unix(max(m.scs.GetInt64(ctx, keyCreated), m.scs.GetInt64(ctx, keyAuthAt)), 0)
}

// MarkAuthenticated records that the signed-in user has just proved who
// they are again (their password, a second factor).
func (m *Manager) MarkAuthenticated(ctx context.Context) {
	if User(ctx) != nil {
		m.scs.Put(ctx, keyAuthAt, time.Now().Unix())
	}
}

// Logout deletes the request's session row and expires the cookie.
func (m *Manager) Logout(ctx context.Context) error {
	if err := m.scs.Destroy(ctx); err != nil {
		return err
	}
	stateFrom(ctx).signOut()
	return nil
}

// PutFlash keeps a one-time message for the signed-in user's next page.
// Anonymous requests have no stored session, so they get none.
func (m *Manager) PutFlash(ctx context.Context, msg string) {
	if User(ctx) != nil {
		m.scs.Put(ctx, keyFlash, msg)
	}
}

// PutResetLink keeps a reset link the signed-in user issued until its page
// shows it (ResetLink, then ForgetResetLink): the link exists in clear
// nowhere else, and a page that issued it on every load would end the one
// just copied. A newer one replaces it.
func (m *Manager) PutResetLink(ctx context.Context, link string) {
	if User(ctx) != nil {
		m.scs.Put(ctx, keyResetLink, link)
	}
}

// ResetLink is the reset link kept by PutResetLink, "" when none.
func (m *Manager) ResetLink(ctx context.Context) string {
	return m.scs.GetString(ctx, keyResetLink)
}

// ForgetResetLink drops the kept reset link: its page has shown it.
func (m *Manager) ForgetResetLink(ctx context.Context) {
	m.scs.Remove(ctx, keyResetLink)
}

// PopFlash returns and forgets the one-time message, "" when none.
func (m *Manager) PopFlash(ctx context.Context) string {
	return m.scs.PopString(ctx, keyFlash)
}

// Expiry is when the request's session expires: as stored, or sooner when
// the user's current role has shorter limits than the stored expiry was
// written for.
func (m *Manager) Expiry(ctx context.Context) time.Time {
	d := m.scs.Deadline(ctx)
	if st := stateFrom(ctx); st != nil && !st.expiry.IsZero() && st.expiry.Before(d) {
		return st.expiry
	}
	return d
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
