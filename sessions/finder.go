package sessions

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"aistat"
)

// FindQuery is the request path's one query: the sessions of a batch of
// tokens joined with their users, in a function whose plan PostgreSQL keeps
// (see schema.sql). Exported so that the benchmark runs exactly it through
// pgbench.
const FindQuery = `SELECT * FROM aistat_find_sessions($1)`

// batchTimeout bounds one batch's query; a request waiting for it gives up
// at its own deadline.
const batchTimeout = 5 * time.Second

// maxBatch is the most tokens one query looks up.
const maxBatch = 256

// finder looks sessions up in batches, one query at a time. A lookup that
// finds no query under way runs its own at once, in its own goroutine and
// under its own context: a lone request costs exactly one round trip.
// Lookups that arrive while a query runs wait and share the next one, which
// a goroutine of their own runs as soon as it finishes. Under load one
// statement, one plan and one round trip serve many requests, and nothing
// read is older than the request that asked for it.
//
// One query at a time measured fastest, against two at a time and a query
// per request (see BENCHMARKS.md for how it is measured): a query costs the
// app and PostgreSQL far more than a token in it, and batches grow with the
// load.
type finder struct {
	db *sql.DB

	mu sync.Mutex
	// busy is set while a query runs or a drain serves the queue; the queue
	// is never left non-empty while it is clear: whoever finishes a query
	// hands the queue to a drain.
	busy  bool
	queue []*lookup

	// lookups and queries count what the finder did, for /metrics.
	lookups, queries atomic.Int64
}

// lookup is one request's wait for its session.
type lookup struct {
	ctx   context.Context
	token string
	done  chan struct{}
	// Set before done is closed.
	row    *storedSession
	data   []byte
	reason string
	err    error
}

func newFinder(db *sql.DB) *finder {
	return &finder{db: db}
}

// find returns the session of token with its user, nil when there is
// none; then reason says why the session ended, "" when it does not tell.
func (f *finder) find(ctx context.Context, token string) (*storedSession, []byte, string, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	if !f.busy {
		f.busy = true
		f.mu.Unlock()
		results, err := f.query(ctx, []string{token})
		f.finished()
		if err != nil {
			return nil, nil, "", err
		}
		r := results[token]
		return r.row, r.data, r.reason, nil
	}
	l := &lookup{ctx: ctx, token: token, done: make(chan struct{})}
	f.queue = append(f.queue, l)
	f.mu.Unlock()
	select {
	case <-l.done:
		return l.row, l.data, l.reason, l.err
	case <-ctx.Done():
		return nil, nil, "", fmt.Errorf("find session: %w", context.Cause(ctx))
	}
}

// finished ends a query: the lookups that queued meanwhile get a drain.
func (f *finder) finished() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		go f.drain()
		return
	}
	f.busy = false
}

// drain runs batches of the queue until it is empty.
func (f *finder) drain() {
	for {
		f.mu.Lock()
		batch := f.take()
		if len(batch) == 0 {
			f.busy = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		f.run(batch)
	}
}

// take removes up to maxBatch lookups whose requests still wait.
func (f *finder) take() []*lookup {
	var batch []*lookup
	n := 0
	for n < len(f.queue) && len(batch) < maxBatch {
		if l := f.queue[n]; l.ctx.Err() == nil {
			batch = append(batch, l)
		}
		n++
	}
	f.queue = f.queue[n:]
	if len(f.queue) == 0 {
		f.queue = nil
	}
	return batch
}

// run looks a batch up in one query and hands each lookup its result. The
// query belongs to no one request of the batch: a request that stops
// waiting leaves the others theirs.
func (f *finder) run(batch []*lookup) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tokens := make([]string, len(batch))
	for i, l := range batch {
		tokens[i] = l.token
	}
	results, err := f.query(ctx, tokens)
	handed := make(map[string]bool, len(results))
	for _, l := range batch {
		if err != nil {
			l.err = err
		} else if r, ok := results[l.token]; ok {
			// Requests of one session (a browser's tabs) can share a
			// batch; each gets rows of its own.
			if handed[l.token] && r.row != nil {
				r = r.clone()
			}
			handed[l.token] = true
			l.row, l.data, l.reason = r.row, r.data, r.reason
		}
		close(l.done)
	}
}

// result is a token's row: a live session (row and data), or why it
// ended (reason).
type result struct {
	row    *storedSession
	data   []byte
	reason string
}

func (r result) clone() result {
	row, user := *r.row, *r.row.user
	row.user = &user
	return result{row: &row, data: slices.Clone(r.data)}
}

func (f *finder) query(ctx context.Context, tokens []string) (map[string]result, error) {
	f.queries.Add(1)
	rows, err := f.db.QueryContext(ctx, FindQuery, pq.Array(tokens))
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	defer rows.Close()
	results := make(map[string]result, len(tokens))
	for rows.Next() {
		var (
			token            string
			r                result
			reason           sql.NullString
			locale, timeZone sql.NullString
		)
		r.row = &storedSession{user: new(aistat.User)}
		u := r.row.user
		if err := rows.Scan(&token, &r.data, &r.row.id, &r.row.expiry, &r.row.lastActive,
			&u.ID, &u.Email, &u.Name, &u.Role, &u.AvatarURL, &u.CreatedAt, &u.UpdatedAt, &reason,
			&locale, &timeZone, &u.SecondFactor); err != nil {
			return nil, fmt.Errorf("find session: %w", err)
		}
		if reason.Valid {
			// A dead token: the other columns are placeholders.
			results[token] = result{reason: reason.String}
			continue
		}
		r.row.token = token
		u.Locale, u.TimeZone = aistat.Locale(locale.String), timeZone.String
		results[token] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	return results, nil
}
