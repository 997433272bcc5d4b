package sessions

import (
	"context"
	"fmt"
)

// CountActive is the number of unexpired sessions, whatever their user's
// state: the site's metrics report it. It reads the whole expiry index, so
// callers reuse its answer for a while rather than ask on every scrape.
func (s *Store) CountActive(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expiry > now()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active sessions: %w", err)
	}
	return n, nil
}
