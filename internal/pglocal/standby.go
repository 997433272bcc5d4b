package pglocal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Streaming replication on one machine: a primary started by Start, a hot
// standby of it started by StartStandby, both on their own Unix sockets.
// With Synchronous, a commit on the primary returns only once the standby
// has applied it; Kill and Promote play a failover.

// StartStandby starts a hot standby of primary in dir. Its data is a base
// backup of primary taken by pg_basebackup -R, which also writes the
// settings (standby.signal, primary_conninfo) that make it stream from
// primary from then on; it then runs as Start runs a cluster. A dir that
// already holds a cluster is started as it is.
func StartStandby(ctx context.Context, dir string, primary *Cluster, logger *slog.Logger) (*Cluster, error) {
	backup := func(c *Cluster, ctx context.Context, scratch string) error {
		err := c.run(ctx, c.bin.pgBasebackup(), "-D", scratch, "-h", primary.sockDir, "-p", strconv.Itoa(port),
			"-U", serverUser, "-R", "-X", "stream", "-c", "fast")
		if err != nil {
			return fmt.Errorf("base backup of %s: %w", primary.dir, err)
		}
		return nil
	}
	c, err := prepare(ctx, dir, logger, systemSearch(), backup)
	if err != nil {
		return nil, err
	}
	if err := c.boot(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Synchronous makes every commit on c wait for a standby to have applied
// it (synchronous_standby_names '*', synchronous_commit remote_apply), so
// that whatever a client saw committed is on the standby, and readable
// there, when c dies. It returns once a standby streams synchronously, and
// fails if none does within wait. Set after the standby's base backup, the
// setting stays on c: a promoted standby does not wait for a standby of its
// own that it does not have.
func (c *Cluster) Synchronous(ctx context.Context, wait time.Duration) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	defer db.Close()
	for _, q := range []string{
		`ALTER SYSTEM SET synchronous_standby_names = '*'`,
		`ALTER SYSTEM SET synchronous_commit = 'remote_apply'`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("synchronous replication: %s: %w", q, err)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		var sync bool
		err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync')`).Scan(&sync)
		if err != nil {
			return fmt.Errorf("synchronous replication: %w", err)
		}
		if sync {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no standby streams synchronously from %s after %v", c.dir, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Promote ends c's recovery and makes it a primary, and returns once it
// takes writes.
func (c *Cluster) Promote(ctx context.Context) error {
	if err := c.pgCtl(ctx, "promote", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("promote %s: %w", c.dir, err)
	}
	c.logger.Info("postgres promoted", "dir", c.dir)
	return nil
}

// PrimaryURL is a lib/pq key/value connection string for database on
// whichever of clusters is the primary: every cluster's socket as a host,
// and target_session_attrs=read-write, so that a connection skips a
// standby and follows a promotion by itself.
func PrimaryURL(database string, clusters ...*Cluster) string {
	hosts, ports := make([]string, len(clusters)), make([]string, len(clusters))
	for i, c := range clusters {
		hosts[i], ports[i] = c.sockDir, strconv.Itoa(port)
	}
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable target_session_attrs=read-write",
		quoteValue(strings.Join(hosts, ",")), strings.Join(ports, ","), serverUser, quoteValue(database))
}

// Dir is the folder c was started in, which Kill takes.
func (c *Cluster) Dir() string { return c.dir }

// SocketDir is the folder of c's Unix socket, the host (port 5432) by
// which command-line tools such as pgbench reach it.
func (c *Cluster) SocketDir() string { return c.sockDir }

// Installed reports, with an error naming the package, whether the server
// programs a cluster needs are on this machine.
func Installed() error {
	_, err := systemSearch().find()
	return err
}
