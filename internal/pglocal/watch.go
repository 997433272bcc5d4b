package pglocal

import (
	"context"
	"time"
)

// Watch checks every interval, until ctx ends, that the server this Cluster
// launched still runs, and starts it again when it has died (killed, or
// crashed past PostgreSQL's own restart): the site's own database comes back
// by itself, after the same crash recovery as at start-up. A cluster that
// Open found running belongs to someone else and is not watched.
func (c *Cluster) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.restartIfDead(ctx); err != nil && ctx.Err() == nil {
			c.logger.Error("restart postgres", "dir", c.dir, "error", err)
		}
	}
}

// restartIfDead boots the cluster again when its postmaster is gone. It holds
// the lock Stop takes, so a shutdown waits for a restart under way, which
// runs to its end even when ctx ends meanwhile: cut short, it could leave a
// server running that Stop would not know of.
func (c *Cluster) restartIfDead(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == 0 || servesDir(c.pid, c.dataDir) {
		return nil
	}
	c.logger.Warn("postgres died, starting it again", "dir", c.dir, "pid", c.pid)
	c.pid = 0
	return c.boot(context.WithoutCancel(ctx))
}
