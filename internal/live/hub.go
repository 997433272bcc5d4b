// Package live pushes changes to the pages people have open. Each instance
// holds one LISTEN connection to PostgreSQL, whatever the number of open
// streams, and fans every notification out to the streams it concerns.
package live

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/sessions"
)

// Channel is the PostgreSQL notification channel schema.sql's triggers
// announce changes on.
const Channel = "aistat_events"

// MailChannel is where schema.sql announces new mail. It is a channel of
// its own so that a burst of mail (sign-ins from new browsers) never counts
// towards the open pages' bursts: its notifications skip the inbox and
// only wake the mail worker (OnMail).
const MailChannel = "aistat_mail"

// Event is one Server-Sent Event.
type Event struct {
	Name string
	Data []byte
}

// Events streams receive.
var (
	emptyData   = []byte("{}")
	logoutEvent = Event{Name: "logout", Data: emptyData}
	resyncEvent = Event{Name: "resync", Data: emptyData}
)

// Errors of Subscribe.
var (
	ErrTooManyForUser = errors.New("too many open streams for this user")
	ErrTooMany        = errors.New("too many open streams")
	ErrClosed         = errors.New("shutting down")
)

// MaxConns is the size of the connection pool the hub's users and store
// should read through: one of its own, so that a burst of changes queues
// for these connections instead of taking the requests' ones. The hub
// dispatches one notification at a time; the second connection serves the
// streams' expiry checks meanwhile.
const MaxConns = 2

// DefaultPingInterval is how often the LISTEN connection is checked when
// Config leaves it zero.
const DefaultPingInterval = 30 * time.Second

// Config limits the streams of one instance.
type Config struct {
	MaxStreamsPerUser int
	MaxStreams        int
	// PingInterval is how often the LISTEN connection is checked, which
	// finds a connection that died silently: a ping unanswered for as long
	// (a second at least) gives the connection up, and the hub reconnects
	// and resynchronises. Zero means DefaultPingInterval.
	PingInterval time.Duration
	// RoleLabel names a role in a language, for the roleLabel of the users
	// that streams receive: each in its reader's language. Nil leaves the
	// domain's English label.
	RoleLabel func(aistat.Locale, aistat.Role) string
}

// Hub keeps the open streams of one instance and feeds them.
type Hub struct {
	users     *aistat.Users
	store     *sessions.Store
	listenURL string
	cfg       Config
	logger    *slog.Logger

	// ready is closed once the first LISTEN is in place.
	ready chan struct{}
	// onMail, when set, is told of every new mail (and of a resync, which
	// may have lost one), so that the mail worker sends at once.
	onMail atomic.Pointer[func()]

	mu      sync.Mutex
	streams map[*Stream]struct{}
	byUser  map[int64]map[*Stream]struct{}
	closed  bool
}

// New returns a hub that listens on listenURL and reads users and sessions
// through users and store, which should use a pool of their own (MaxConns).
func New(users *aistat.Users, store *sessions.Store, listenURL string, cfg Config, logger *slog.Logger) *Hub {
	return &Hub{
		users:     users,
		store:     store,
		listenURL: listenURL,
		cfg:       cfg,
		logger:    logger,
		ready:     make(chan struct{}),
		streams:   make(map[*Stream]struct{}),
		byUser:    make(map[int64]map[*Stream]struct{}),
	}
}

// Ready is closed once the hub listens: changes committed after it are
// seen.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Subscribe opens a stream for the user's session, within the limits;
// locale is the language its page is read in.
func (h *Hub) Subscribe(user *aistat.User, sessionID int64, locale aistat.Locale) (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case len(h.byUser[user.ID]) >= h.cfg.MaxStreamsPerUser:
		return nil, ErrTooManyForUser
	case len(h.streams) >= h.cfg.MaxStreams:
		return nil, ErrTooMany
	}
	s := &Stream{
		hub:       h,
		userID:    user.ID,
		sessionID: sessionID,
		role:      user.Role,
		locale:    locale,
		done:      make(chan struct{}),
	}
	h.streams[s] = struct{}{}
	if h.byUser[user.ID] == nil {
		h.byUser[user.ID] = make(map[*Stream]struct{})
	}
	h.byUser[user.ID][s] = struct{}{}
	return s, nil
}

// remove forgets a stream that has ended.
func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, s)
	if set := h.byUser[s.userID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.byUser, s.userID)
		}
	}
}

// Len is the number of open streams.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Close ends every stream and refuses new ones; the server calls it when it
// starts shutting down, since open streams would otherwise hold it up.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.streams {
		s.end()
	}
}

// Check re-reads the stream's session when it reaches its expiry: another
// request of the same session may have slid it. It returns the new expiry,
// or ends the stream with a logout when the session is over.
func (h *Hub) Check(ctx context.Context, s *Stream) (time.Time, error) {
	expiry, ok, err := h.store.Expiry(ctx, s.sessionID)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		s.logoutFor(aistat.EndExpired)
	}
	return expiry, nil
}

// notification is the payload of schema.sql's triggers.
type notification struct {
	Kind     string  `json:"kind"`
	User     int64   `json:"user"`
	Sessions []int64 `json:"sessions"`
	// Reason is why the sessions ended, "" when it does not say.
	Reason aistat.EndReason `json:"reason"`
}

// Bounds of the hub's waits. A database that stops answering holds the
// dispatcher up for queryTimeout per query at most, and never the reading
// of the LISTEN connection; a ping unanswered for the ping interval (at
// least minPingTimeout) gives the connection up; once ctx ends, Run returns
// within shutdownWait whatever the state of the connection.
const (
	queryTimeout   = 5 * time.Second
	minPingTimeout = time.Second
	shutdownWait   = 3 * time.Second
)

// Run listens for notifications until ctx ends, reconnecting with backoff.
// After a reconnect, notifications may have been lost: every stream is told
// to resynchronise and every session is checked again; so it is after a
// burst too large to forward one by one (see burstLimit).
//
// Three goroutines share the work so that none waits for another: this one
// only reads the connection into an inbox, one dispatches what the inbox
// holds (the queries and the streams), one pings.
func (h *Hub) Run(ctx context.Context) {
	dialer := newListenDialer()
	in := newInbox()
	l := pq.NewDialListener(dialer, h.listenURL, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		if ctx.Err() != nil {
			// The shutdown cut the connection.
			return
		}
		switch ev {
		case pq.ListenerEventDisconnected:
			h.logger.Warn("live: listener disconnected", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			h.logger.Warn("live: listener reconnect failed", "err", err)
		case pq.ListenerEventReconnected:
			h.logger.Info("live: listener reconnected")
		}
	})
	go func() {
		for _, channel := range []string{Channel, MailChannel} {
			if err := l.Listen(channel); err != nil {
				if ctx.Err() == nil {
					h.logger.Error("live: listen", "channel", channel, "err", err)
				}
				return
			}
		}
		close(h.ready)
	}()
	var wg sync.WaitGroup
	wg.Go(func() { h.dispatchLoop(ctx, in) })
	wg.Go(func() { h.keepAlive(ctx, l, dialer) })
	h.read(ctx, l, in)

	// Cutting the connection first releases whatever waits on it (a ping,
	// a LISTEN, a connection attempt to a server that stopped answering),
	// which all hold the lock Close takes.
	dialer.stop()
	// lib/pq's goroutines may still be sending when Close returns: read
	// on until they close Notify.
	go func() {
		for range l.Notify {
		}
	}()
	closed := make(chan struct{})
	go func() {
		_ = l.Close()
		wg.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(shutdownWait):
		h.logger.Warn("live: listener did not stop in time, leaving it", "wait", shutdownWait)
	}
}

// read hands every notification to the inbox as it arrives, until ctx ends.
func (h *Hub) read(ctx context.Context, l *pq.Listener, in *inbox) {
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-l.Notify:
			switch {
			case !ok:
				h.logger.Error("live: listener closed")
				return
			case n == nil:
				in.reconnected()
			case n.Channel == MailChannel:
				h.wakeMail()
			default:
				in.add(n.Extra, time.Now())
			}
		}
	}
}

// keepAlive pings the connection, which finds one that died silently. The
// reply comes through lib/pq's reading goroutine, after every notification
// queued before it, which read keeps taking; a reply that does not come in
// time means a server that stopped answering: the connection is cut, which
// ends the ping, and lib/pq reconnects.
func (h *Hub) keepAlive(ctx context.Context, l *pq.Listener, dialer *listenDialer) {
	interval := cmp.Or(h.cfg.PingInterval, DefaultPingInterval)
	timeout := max(interval, minPingTimeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		watchdog := time.AfterFunc(timeout, func() {
			if ctx.Err() == nil {
				h.logger.Warn("live: listener did not answer a ping, reconnecting", "timeout", timeout)
			}
			dialer.cut()
		})
		_ = l.Ping()
		watchdog.Stop()
	}
}

// dispatchLoop forwards what the inbox holds until ctx ends.
func (h *Hub) dispatchLoop(ctx context.Context, in *inbox) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			batch, resync, dropped, wait := in.take(time.Now())
			if wait > 0 {
				timer.Reset(wait)
				break
			}
			if resync {
				if dropped > 0 {
					h.logger.Warn("live: burst of notifications, streams resynchronise", "notifications", dropped)
				}
				h.resync(ctx)
				continue
			}
			if len(batch) == 0 {
				break
			}
			h.dispatchBatch(ctx, batch, in)
		}
	}
}

// dispatchBatch forwards notifications one by one, loading a user changed
// several times once, and gives up as soon as a resync is coming.
func (h *Hub) dispatchBatch(ctx context.Context, batch []string, in *inbox) {
	msgs := make([]notification, 0, len(batch))
	// created is whether every notification of the user in the batch says
	// it is new: only then has it no stream to send a profile to.
	created := make(map[int64]bool)
	for _, payload := range batch {
		var msg notification
		if err := json.Unmarshal([]byte(payload), &msg); err != nil {
			h.logger.Error("live: bad notification", "payload", payload, "err", err)
			continue
		}
		if msg.Kind == "user" || msg.Kind == "user_created" {
			c, seen := created[msg.User]
			created[msg.User] = (c || !seen) && msg.Kind == "user_created"
		}
		msgs = append(msgs, msg)
	}
	// The user is loaded after every change in the batch was committed:
	// the first load is as fresh as the last would be.
	loaded := make(map[int64]bool)
	for _, msg := range msgs {
		if ctx.Err() != nil || in.coalescing() {
			return
		}
		switch msg.Kind {
		case "user", "user_created":
			if !loaded[msg.User] {
				loaded[msg.User] = true
				h.userNotified(ctx, msg.User, created[msg.User])
			}
		case "user_deleted":
			h.userDeleted(msg.User)
		case "sessions_ended":
			h.sessionsEnded(ctx, msg.User, msg.Sessions, msg.Reason)
		}
	}
}

// userNotified loads a changed user and sends the change on.
func (h *Hub) userNotified(ctx context.Context, id int64, created bool) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	u, err := h.users.ByID(qctx, id)
	switch {
	case aistat.ErrorCode(err) == aistat.ENOTFOUND:
		h.userDeleted(id)
	case ctx.Err() != nil:
	case err != nil:
		h.logger.Error("live: load user", "user_id", id, "err", err)
		h.resync(ctx)
	default:
		h.userChanged(u, created)
	}
}

// userFields are a user's fields without aistat.User's MarshalJSON, which,
// promoted into adminUser, would leave out its Disabled.
type userFields aistat.User

// adminUser is a user as admins' streams receive them: the admin table also
// shows whether the account is disabled.
type adminUser struct {
	*userFields
	aistat.Display
	Disabled bool `json:"disabled"`
}

// directoryUser is a user as editors' streams receive them: editors read
// the directory of names and roles, not the accounts' contact details.
type directoryUser struct {
	ID   int64       `json:"id"`
	Name string      `json:"name"`
	Role aistat.Role `json:"role"`
	aistat.Display
	Disabled bool `json:"disabled"`
}

// userChanged sends the user's fresh profile to their own streams (a new
// user has none yet) and, as each one's role may see it, to every staff
// stream, each in its reader's language.
func (h *Hub) userChanged(u *aistat.User, created bool) {
	forms := h.userForms(u)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !created {
		for s := range h.byUser[u.ID] {
			if u.Disabled {
				s.logoutFor(aistat.EndDisabled)
				continue
			}
			s.role = u.Role
			if u.Locale != "" {
				s.locale = u.Locale
			}
			if data := forms.own(s.locale); data != nil {
				s.send(Event{Name: "profile", Data: data})
			}
		}
	}
	for s := range h.streams {
		var data []byte
		switch s.role {
		case aistat.RoleAdmin:
			data = forms.admin(s.locale)
		case aistat.RoleEditor:
			data = forms.directory(s.locale)
		default:
			continue
		}
		if data != nil {
			s.send(Event{Name: "user", Data: data})
		}
	}
}

// userForms are the JSON forms of one changed user, made once per
// language that a stream needs: the user's own, the admins' and the
// editors'. A form that cannot be encoded is nil, and logged.
type userForms struct {
	own, admin, directory func(aistat.Locale) []byte
}

func (h *Hub) userForms(u *aistat.User) userForms {
	label := func(l aistat.Locale) string {
		if h.cfg.RoleLabel == nil {
			return u.Role.Label()
		}
		return h.cfg.RoleLabel(l, u.Role)
	}
	display := func(l aistat.Locale) aistat.Display {
		d := u.Display()
		d.RoleLabel = label(l)
		return d
	}
	form := func(encode func(aistat.Locale) ([]byte, error)) func(aistat.Locale) []byte {
		made := make(map[aistat.Locale][]byte, len(aistat.Locales))
		return func(l aistat.Locale) []byte {
			if data, ok := made[l]; ok {
				return data
			}
			data, err := encode(l)
			if err != nil {
				h.logger.Error("live: encode user", "err", err)
			}
			made[l] = data
			return data
		}
	}
	return userForms{
		own: form(func(l aistat.Locale) ([]byte, error) { return u.JSONIn(label(l)) }),
		admin: form(func(l aistat.Locale) ([]byte, error) {
			return json.Marshal(adminUser{userFields: (*userFields)(u), Display: display(l), Disabled: u.Disabled})
		}),
		directory: form(func(l aistat.Locale) ([]byte, error) {
			return json.Marshal(directoryUser{ID: u.ID, Name: u.Name, Role: u.Role, Display: display(l), Disabled: u.Disabled})
		}),
	}
}

func (h *Hub) userDeleted(id int64) {
	data, _ := json.Marshal(map[string]int64{"id": id})
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byUser[id] {
		s.logoutFor(aistat.EndDeleted)
	}
	for s := range h.streams {
		if s.role.Staff() && s.userID != id {
			s.send(Event{Name: "user_deleted", Data: data})
		}
	}
}

// sessionsEnded logs out the streams of the ended sessions; without a list
// of ids every stream of the user checks its own.
func (h *Hub) sessionsEnded(ctx context.Context, userID int64, ids []int64, reason aistat.EndReason) {
	if ids == nil {
		h.check(ctx, h.streamsOf(userID))
		return
	}
	ended := make(map[int64]bool, len(ids))
	for _, id := range ids {
		ended[id] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.byUser[userID] {
		if ended[s.sessionID] {
			s.logoutFor(reason)
		}
	}
}

func (h *Hub) streamsOf(userID int64) []*Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := make([]*Stream, 0, len(h.byUser[userID]))
	for s := range h.byUser[userID] {
		list = append(list, s)
	}
	return list
}

// OnMail makes the hub call fn whenever a mail is written to the outbox,
// on any instance, and after a reconnect, which may have lost the news of
// one. fn must not block.
func (h *Hub) OnMail(fn func()) { h.onMail.Store(&fn) }

// wakeMail calls the OnMail function, if any.
func (h *Hub) wakeMail() {
	if fn := h.onMail.Load(); fn != nil {
		(*fn)()
	}
}

// resync tells every stream that events may have been lost and checks every
// stream's session with one query.
func (h *Hub) resync(ctx context.Context) {
	h.wakeMail()
	h.mu.Lock()
	all := make([]*Stream, 0, len(h.streams))
	for s := range h.streams {
		s.send(resyncEvent)
		all = append(all, s)
	}
	h.mu.Unlock()
	h.check(ctx, all)
}

// check logs out the streams whose sessions are over and updates the others'
// role from their user's current one.
func (h *Hub) check(ctx context.Context, streams []*Stream) {
	if len(streams) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	ids := make([]int64, len(streams))
	for i, s := range streams {
		ids[i] = s.sessionID
	}
	live, err := h.store.Live(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			h.logger.Error("live: check sessions", "err", err)
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range streams {
		role, ok := live[s.sessionID]
		if !ok {
			s.logout()
			continue
		}
		s.role = role
	}
}
