package pglocal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"aistat/internal/poll"
)

// tempDir makes a folder the postgres user can reach: t.TempDir sits below
// 0700 folders, which a cluster handed to postgres by root cannot traverse.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func startCluster(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), dir, testLogger(t))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

func open(t *testing.T, c *Cluster, database string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", c.URL(database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryString(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(t.Context(), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

// killPostmaster simulates a crash of the server and waits until it is gone.
func killPostmaster(t *testing.T, c *Cluster) {
	t.Helper()
	pid, err := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil || pid == 0 {
		t.Fatalf("read postmaster pid: %d, %v", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, fmt.Sprintf("postmaster %d to die of SIGKILL", pid), 10*time.Second, func() bool { return !isPostgres(pid) })
}

func TestClusterLifecycle(t *testing.T) {
	// A space in the path checks the quoting of the socket folder.
	dir := filepath.Join(tempDir(t), "data dir")
	c := startCluster(t, dir)

	if want := filepath.Join(dir, "run"); c.sockDir != want {
		t.Errorf("socket dir = %q, want %q", c.sockDir, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres", "PG_VERSION")); err != nil {
		t.Errorf("cluster not in dir/postgres: %v", err)
	}
	db := open(t, c, "postgres")
	if got := queryString(t, db, "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
	if got := queryString(t, db, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want no TCP listener", got)
	}

	for range 2 {
		if err := c.CreateDatabase(t.Context(), "app"); err != nil {
			t.Fatalf("create database: %v", err)
		}
	}
	app := open(t, c, "app")
	if _, err := app.ExecContext(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('persisted')"); err != nil {
		t.Fatal(err)
	}
	app.Close()
	db.Close()

	for range 2 {
		if err := c.Stop(t.Context()); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid after stop: %v", err)
	}

	c = startCluster(t, dir)
	assertKept(t, c)

	// A backend busy computing does not notice that its postmaster died, and
	// keeps the old shared memory attached until Start kills it.
	busy := open(t, c, "app")
	if err := busy.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Fails once Start kills the backend; only that it runs matters.
		_, _ = busy.Exec("SELECT count(*) FROM generate_series(1, 1e12)")
	}()
	watcher := open(t, c, "app")
	poll.Until(t, "the busy query to run", 10*time.Second, func() bool {
		var running bool
		err := watcher.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%generate_series(1, 1e12)%' AND pid <> pg_backend_pid())`).Scan(&running)
		return err == nil && running
	})
	killPostmaster(t, c)
	c = startCluster(t, dir)
	assertKept(t, c)

	// The previous Cluster is never stopped, as when the app is killed while
	// its server keeps running.
	c = startCluster(t, dir)
	assertKept(t, c)
}

func assertKept(t *testing.T, c *Cluster) {
	t.Helper()
	if got := queryString(t, open(t, c, "app"), "SELECT v FROM kept"); got != "persisted" {
		t.Errorf("kept row = %q", got)
	}
}

func TestLongDataDirUsesShortSocketDir(t *testing.T) {
	dir := filepath.Join(tempDir(t), strings.Repeat("a-rather-long-folder-name/", 5))
	c := startCluster(t, dir)
	t.Cleanup(func() { os.RemoveAll(c.sockDir) })

	if !strings.HasPrefix(c.sockDir, filepath.Join(os.TempDir(), "aistat-")) {
		t.Errorf("socket dir = %q, want a short folder in the temp dir", c.sockDir)
	}
	if got := queryString(t, open(t, c, "postgres"), "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
}

func TestMissingBinaries(t *testing.T) {
	empty := tempDir(t)
	_, err := start(t.Context(), filepath.Join(empty, "data"), testLogger(t), binSearch{path: empty, root: empty})
	if err == nil {
		t.Fatal("start without server programs succeeded")
	}
	for _, want := range []string{"postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestBinariesPreferHighestVersion(t *testing.T) {
	root := tempDir(t)
	for _, v := range []string{"9.6", "15", "10", "notes"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := binSearch{root: root}.find()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); b.dir != want {
		t.Errorf("binaries in %q, want %q", b.dir, want)
	}
}

func TestUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to the postgres user")
	}
	locked := filepath.Join(tempDir(t), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), filepath.Join(locked, "data"), testLogger(t))
	if err == nil || !strings.Contains(err.Error(), locked+" ") {
		t.Fatalf("error %v does not name %s", err, locked)
	}
}

func TestURLQuoting(t *testing.T) {
	c := &Cluster{sockDir: `/tmp/it's a \dir`}
	cfg, err := pq.NewConfig(c.URL("my 'db'"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != c.sockDir || cfg.Database != "my 'db'" || cfg.User != "postgres" || cfg.Port != 5432 || cfg.SSLMode != pq.SSLModeDisable {
		t.Errorf("parsed %+v", cfg)
	}
}

func postmasterPID(t *testing.T, c *Cluster) int {
	t.Helper()
	pid, err := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestOpenStartsClusterWhenNothingRuns(t *testing.T) {
	dir := tempDir(t)
	for range 2 { // first on an empty folder, then on a stopped cluster
		c, err := Open(t.Context(), dir, testLogger(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if got := queryString(t, open(t, c, "postgres"), "SELECT 1::text"); got != "1" {
			t.Errorf("SELECT 1 = %q", got)
		}
		if err := c.Stop(t.Context()); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if running, err := c.running(); err != nil || running {
			t.Errorf("after Stop of a cluster Open started: running %v, %v", running, err)
		}
		if pids := processesOf(c.dataDir); len(pids) > 0 {
			t.Errorf("postgres processes left after Stop: %v", pids)
		}
	}
}

func TestOpenSharesRunningCluster(t *testing.T) {
	dir := tempDir(t)
	site := startCluster(t, dir)
	if err := site.CreateDatabase(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, site, "app").ExecContext(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('persisted')"); err != nil {
		t.Fatal(err)
	}
	sitePID := postmasterPID(t, site)

	tool, err := Open(t.Context(), dir, testLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if tool.URL("app") != site.URL("app") {
		t.Errorf("Open URL %q, Start URL %q", tool.URL("app"), site.URL("app"))
	}
	assertKept(t, tool)
	if err := tool.CreateDatabase(t.Context(), "app"); err != nil {
		t.Errorf("create database through the shared cluster: %v", err)
	}
	if err := tool.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pid := postmasterPID(t, site); pid != sitePID {
		t.Fatalf("postmaster pid %d after Open's Stop, want the site's %d still running", pid, sitePID)
	}
	assertKept(t, site)
}

// A Cluster whose server a later Start took over, as when a tool's cluster
// is taken over by the site starting, must not stop the new server.
func TestStopLeavesServerOfLaterStart(t *testing.T) {
	dir := tempDir(t)
	first := startCluster(t, dir)
	second := startCluster(t, dir)
	secondPID := postmasterPID(t, second)
	if err := first.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pid := postmasterPID(t, second); pid != secondPID {
		t.Fatalf("postmaster pid %d after the first Cluster's Stop, want %d still running", pid, secondPID)
	}
	if got := queryString(t, open(t, second, "postgres"), "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
}
