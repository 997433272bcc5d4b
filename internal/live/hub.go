// Package live pushes changes to the pages people have open. Each instance
// holds one LISTEN connection to PostgreSQL, whatever the number of open
// streams, and fans every notification out to the streams it concerns.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/sessions"
)

// Channel is the PostgreSQL notification channel schema.sql's triggers
// announce changes on.
const Channel = "aistat_events"

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

// Config limits the streams of one instance.
type Config struct {
	MaxStreamsPerUser int
	MaxStreams        int
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

// Subscribe opens a stream for the user's session, within the limits.
func (h *Hub) Subscribe(user *aistat.User, sessionID int64) (*Stream, error) {
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
		staff:     user.IsStaff(),
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

// Run listens for notifications until ctx ends, reconnecting with backoff.
// After a reconnect, notifications may have been lost: every stream is told
// to resynchronise and every session is checked again.
func (h *Hub) Run(ctx context.Context) {
	l := pq.NewListener(h.listenURL, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected:
			h.logger.Warn("live: listener disconnected", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			h.logger.Warn("live: listener reconnect failed", "err", err)
		case pq.ListenerEventReconnected:
			h.logger.Info("live: listener reconnected")
		}
	})
	defer l.Close()
	go func() {
		if err := l.Listen(Channel); err != nil {
			if ctx.Err() == nil {
				h.logger.Error("live: listen", "err", err)
			}
			return
		}
		close(h.ready)
	}()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-l.Notify:
			if n == nil {
				h.resync(ctx)
				continue
			}
			var msg notification
			if err := json.Unmarshal([]byte(n.Extra), &msg); err != nil {
				h.logger.Error("live: bad notification", "payload", n.Extra, "err", err)
				continue
			}
			h.dispatch(ctx, msg)
		case <-ping.C:
			// Finds a connection that died silently, which triggers the
			// reconnect.
			_ = l.Ping()
		}
	}
}

// dispatch sends one change to the streams it concerns.
func (h *Hub) dispatch(ctx context.Context, msg notification) {
	switch msg.Kind {
	case "user", "user_created":
		u, err := h.users.ByID(ctx, msg.User)
		if aistat.ErrorCode(err) == aistat.ENOTFOUND {
			h.userDeleted(msg.User)
			return
		} else if ctx.Err() != nil {
			return
		} else if err != nil {
			h.logger.Error("live: load user", "user_id", msg.User, "err", err)
			h.resync(ctx)
			return
		}
		h.userChanged(u, msg.Kind == "user_created")
	case "user_deleted":
		h.userDeleted(msg.User)
	case "sessions_ended":
		h.sessionsEnded(ctx, msg.User, msg.Sessions, msg.Reason)
	}
}

// staffUser is a user as staff streams receive them: the admin table also
// shows whether the account is disabled.
type staffUser struct {
	*aistat.User
	Disabled bool `json:"disabled"`
}

// userChanged sends the user's fresh profile to their own streams (a new
// user has none yet) and, with the disabled flag, to every staff stream.
func (h *Hub) userChanged(u *aistat.User, created bool) {
	data, err := json.Marshal(u)
	if err != nil {
		h.logger.Error("live: encode user", "err", err)
		return
	}
	staffData, err := json.Marshal(staffUser{User: u, Disabled: u.Disabled})
	if err != nil {
		h.logger.Error("live: encode user", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !created {
		for s := range h.byUser[u.ID] {
			if u.Disabled {
				s.logoutFor(aistat.EndDisabled)
				continue
			}
			s.staff = u.IsStaff()
			s.send(Event{Name: "profile", Data: data})
		}
	}
	for s := range h.streams {
		if s.staff {
			s.send(Event{Name: "user", Data: staffData})
		}
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
		if s.staff && s.userID != id {
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

// resync tells every stream that events may have been lost and checks every
// stream's session with one query.
func (h *Hub) resync(ctx context.Context) {
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
// staff flag from their user's current role.
func (h *Hub) check(ctx context.Context, streams []*Stream) {
	if len(streams) == 0 {
		return
	}
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
		s.staff = role.Staff()
	}
}
