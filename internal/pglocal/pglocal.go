// Package pglocal runs a private PostgreSQL cluster out of a data folder, so
// the app works on a machine that has the server programs installed but no
// database server set up.
package pglocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

const (
	port       = 5432
	socketName = ".s.PGSQL.5432"
	// maxSocketPath is the longest socket file path the server accepts:
	// sun_path holds 108 bytes including the terminating NUL.
	maxSocketPath = 107
	// orphanWait is how long backends of a killed postmaster get to notice
	// and exit on their own before they are killed.
	orphanWait = 5 * time.Second
	// logTail is how much of the server log an error quotes.
	logTail = 2000
	// joinWait is how long Open waits for a running server that does not
	// accept connections yet, such as one the site is still starting.
	joinWait = 10 * time.Second
	// pingTimeout bounds one connection attempt to a running server, so a
	// hung one cannot stall Open.
	pingTimeout = 2 * time.Second
)

// Cluster is a private PostgreSQL cluster run from a folder.
type Cluster struct {
	dir     string // absolute data folder given to Start
	dataDir string // dir/postgres, symlinks resolved once initialised
	logFile string
	sockDir string
	bin     binaries
	owner   *account // nil when the server runs as the current user
	logger  *slog.Logger
	mu      sync.Mutex // serialises Stop calls
	// pid is the postmaster this Cluster launched, 0 when Open found the
	// server running. Stop stops no other: a server that someone else
	// started, or that took over after this one, is theirs to stop.
	pid int
}

// Start initialises the cluster in dir (creating dir if needed) when it is not
// initialised yet, recovers from a previous crash, starts it, and waits until it accepts connections.
// A server still running the cluster is taken to be left over by a crash and is stopped first.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Cluster, error) {
	return start(ctx, dir, logger, systemSearch())
}

// Open uses the cluster in dir when it is already running and accepts connections (the site is
// running), otherwise starts it as Start does. Stop on a cluster that Open found running does
// nothing, so a command-line tool never stops the site's database.
func Open(ctx context.Context, dir string, logger *slog.Logger) (*Cluster, error) {
	c, err := prepare(ctx, dir, logger, systemSearch(), (*Cluster).initdb)
	if err != nil {
		return nil, err
	}
	up, err := c.acceptsConnections(ctx)
	if err != nil {
		return nil, err
	}
	if up {
		c.logger.Info("using running postgres", "dir", c.dir, "socket_dir", c.sockDir)
		return c, nil
	}
	if err := c.boot(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func start(ctx context.Context, dir string, logger *slog.Logger, search binSearch) (*Cluster, error) {
	c, err := prepare(ctx, dir, logger, search, (*Cluster).initdb)
	if err != nil {
		return nil, err
	}
	if err := c.boot(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// create fills the empty folder scratch with a new cluster's data.
type create func(c *Cluster, ctx context.Context, scratch string) error

// prepare checks the folders and makes sure dir holds an initialised
// cluster, made by fill when there is none yet, without touching a
// server that may be running it.
func prepare(ctx context.Context, dir string, logger *slog.Logger, search binSearch, fill create) (*Cluster, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bin, err := search.find()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	// pg_ctl hands the data and log paths to /bin/sh inside double quotes,
	// where these characters would be interpreted.
	if strings.ContainsAny(abs, "\"$`\\\n") {
		return nil, fmt.Errorf("data dir %q contains a character pg_ctl cannot pass on (\" $ ` \\ or newline): choose another folder", abs)
	}
	owner, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	sockDir, err := socketDir(abs)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{abs, filepath.Dir(sockDir)} {
		if err := owner.checkTraversable(d); err != nil {
			return nil, err
		}
	}
	c := &Cluster{
		dir:     abs,
		dataDir: filepath.Join(abs, "postgres"),
		logFile: filepath.Join(abs, "postgres.log"),
		sockDir: sockDir,
		bin:     bin,
		owner:   owner,
		logger:  logger,
	}
	if err := c.prepareSocketDir(); err != nil {
		return nil, err
	}
	if err := c.initialise(ctx, fill); err != nil {
		return nil, err
	}
	return c, nil
}

// boot clears what a crash left behind and starts the server.
func (c *Cluster) boot(ctx context.Context) error {
	if err := c.recover(ctx); err != nil {
		return err
	}
	return c.launch(ctx)
}

// acceptsConnections reports whether a server already runs the cluster and
// lets a client in. A server that is still starting or recovering gets up to
// joinWait to get there; one that never does is treated like a leftover.
func (c *Cluster) acceptsConnections(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(joinWait)
	for {
		running, err := c.running()
		if err != nil || !running {
			return false, err
		}
		pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
		err = c.ping(pingCtx)
		cancel()
		if err == nil {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("connect to running postgres: %w", ctx.Err())
		}
		if time.Now().After(deadline) {
			c.logger.Warn("running postgres does not accept connections", "dir", c.dir, "error", err)
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("connect to running postgres: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL is a lib/pq key/value connection string for database name on this cluster
// (host=<socket dir> port=5432 user=postgres dbname=<name> sslmode=disable), values quoted correctly.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		quoteValue(c.sockDir), port, serverUser, quoteValue(database))
}

// CreateDatabase creates the database when it does not exist yet (idempotent).
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	defer db.Close()
	var exists bool
	err = db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	if pq.As(err, pqerror.DuplicateDatabase) != nil {
		// Someone else created it since the look-up.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	c.logger.Info("database created", "database", name)
	return nil
}

// Stop shuts the server down cleanly (fast mode) and waits for it, when it is
// the one this Cluster launched. It leaves alone a server that Open found
// running, and one that a later Start took over, since another process uses it.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == 0 {
		return nil
	}
	pid, err := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil || pid != c.pid || !servesDir(pid, c.dataDir) {
		return err
	}
	if err := c.pgCtl(ctx, "stop", "-w", "-t", "60", "-m", "fast"); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	c.logger.Info("postgres stopped", "dir", c.dir)
	return nil
}

// Kill ends at once every postgres process of the cluster in dir and starts
// nothing: for a cluster whose owner died and left it running (pgtest clears
// those of crashed test binaries). Its data is not worth a checkpoint: the
// postmaster gets SIGQUIT, and what still runs after orphanWait SIGKILL.
func Kill(ctx context.Context, dir string, logger *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{dir: abs, dataDir: filepath.Join(abs, "postgres"), logger: logger}
	if up, err := c.running(); err != nil {
		return err
	} else if up {
		pid, _ := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
		if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop postgres %d: %w", pid, err)
		}
	}
	return c.reapOrphans(ctx)
}

// socketDir keeps the socket next to the data when the path fits the kernel's
// limit, and otherwise in a short folder named after the data dir so each
// cluster still gets its own.
func socketDir(abs string) (string, error) {
	dir := filepath.Join(abs, "run")
	if len(filepath.Join(dir, socketName)) <= maxSocketPath {
		return dir, nil
	}
	sum := sha256.Sum256([]byte(abs))
	dir = filepath.Join(os.TempDir(), "aistat-"+hex.EncodeToString(sum[:4]))
	if len(filepath.Join(dir, socketName)) > maxSocketPath {
		return "", fmt.Errorf("socket path under %s is longer than %d bytes: use a shorter data dir or TMPDIR", dir, maxSocketPath)
	}
	return dir, nil
}

// prepareSocketDir creates the socket folder, and refuses one that someone
// else planted, since the fallback lives in the shared temp folder.
func (c *Cluster) prepareSocketDir() error {
	err := os.Mkdir(c.sockDir, 0o755)
	switch {
	case err == nil:
		if err := os.Chmod(c.sockDir, 0o755); err != nil {
			return fmt.Errorf("set socket dir mode: %w", err)
		}
		if err := c.owner.chown(c.sockDir); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create socket dir: %w", err)
	}
	fi, err := os.Lstat(c.sockDir)
	if err != nil {
		return fmt.Errorf("check socket dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != c.serverUID() {
		return fmt.Errorf("socket dir %s is not a folder owned by the server's user: remove it", c.sockDir)
	}
	return nil
}

func (c *Cluster) serverUID() uint32 {
	if c.owner != nil {
		return c.owner.uid
	}
	return uint32(os.Geteuid())
}

// initialise creates the cluster in a scratch folder and renames it into
// place, so a cluster folder that exists is always complete even if its
// creation was cut short.
func (c *Cluster) initialise(ctx context.Context, fill create) error {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		if err := c.createIn(ctx, fill); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("check cluster: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(c.dataDir)
	if err != nil {
		return fmt.Errorf("resolve cluster dir: %w", err)
	}
	c.dataDir = resolved
	return nil
}

// createIn lets fill make the cluster in a scratch folder owned by the
// server's user and moves it into place.
func (c *Cluster) createIn(ctx context.Context, fill create) error {
	scratch := c.dataDir + ".init"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("remove unfinished cluster: %w", err)
	}
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	if err := c.owner.chown(scratch); err != nil {
		return err
	}
	if err := fill(c, ctx, scratch); err != nil {
		return err
	}
	if err := os.Rename(scratch, c.dataDir); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	c.logger.Info("postgres cluster initialised", "dir", c.dataDir)
	return nil
}

// initdb makes a new, empty cluster.
func (c *Cluster) initdb(ctx context.Context, scratch string) error {
	err := c.run(ctx, c.bin.initdb(), "-D", scratch, "-U", serverUser, "--auth=trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")
	if err != nil {
		return fmt.Errorf("initialise cluster: %w", err)
	}
	return nil
}

// recover clears what a crash of the app or of the server leaves behind: a
// server that outlived the app, backends orphaned by a killed postmaster, and
// lock files whose process id may since have been reused.
func (c *Cluster) recover(ctx context.Context) error {
	running, err := c.running()
	if err != nil {
		return err
	}
	if running {
		c.logger.Warn("stopping leftover postgres", "dir", c.dir)
		if err := c.pgCtl(ctx, "stop", "-w", "-t", "30", "-m", "fast"); err != nil {
			c.logger.Warn("fast stop failed, stopping immediately", "dir", c.dir, "error", err)
			if err := c.pgCtl(ctx, "stop", "-w", "-t", "30", "-m", "immediate"); err != nil {
				return fmt.Errorf("stop leftover postgres: %w", err)
			}
		}
	}
	if err := c.reapOrphans(ctx); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(c.dataDir, "postmaster.pid")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale pid file: %w", err)
	}
	return c.clearSocketLock()
}

// running reports whether the postmaster named in postmaster.pid is alive and
// serves this cluster.
func (c *Cluster) running() (bool, error) {
	pid, err := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil || pid == 0 {
		return false, err
	}
	return servesDir(pid, c.dataDir), nil
}

// reapOrphans waits for backends of a killed postmaster to exit, since they
// keep the old shared memory attached and the new server refuses to start
// while it is in use; the ones still there after orphanWait are killed.
func (c *Cluster) reapOrphans(ctx context.Context) error {
	if c.awaitNoProcesses(ctx) {
		return nil
	}
	pids := processesOf(c.dataDir)
	c.logger.Warn("killing orphaned postgres processes", "dir", c.dir, "pids", pids)
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill orphaned postgres %d: %w", pid, err)
		}
	}
	if !c.awaitNoProcesses(ctx) {
		return fmt.Errorf("postgres processes of %s still running: %v", c.dataDir, processesOf(c.dataDir))
	}
	return nil
}

func (c *Cluster) awaitNoProcesses(ctx context.Context) bool {
	deadline := time.Now().Add(orphanWait)
	for len(processesOf(c.dataDir)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// clearSocketLock removes a socket lock left by a dead server; postgres would
// refuse to start if its process id now belonged to an unrelated process.
func (c *Cluster) clearSocketLock() error {
	lock := filepath.Join(c.sockDir, socketName+".lock")
	pid, err := readPID(lock)
	if err != nil || pid == 0 {
		return err
	}
	if isPostgres(pid) {
		return fmt.Errorf("socket dir %s is in use by another postgres server (pid %d)", c.sockDir, pid)
	}
	for _, f := range []string{lock, filepath.Join(c.sockDir, socketName)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale socket: %w", err)
		}
	}
	return nil
}

// launch starts the server on the Unix socket only and checks that a client
// can get in, which also proves the socket permissions work for the app.
func (c *Cluster) launch(ctx context.Context) error {
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	if err := c.owner.chown(c.logFile); err != nil {
		return err
	}
	// pg_ctl runs these options through /bin/sh, and the server splits the
	// socket setting at commas unless the folder is double-quoted.
	options := strings.Join([]string{
		"-c listen_addresses=''",
		"-k " + shellQuote(`"`+c.sockDir+`"`),
		"-p " + strconv.Itoa(port),
		"-c unix_socket_permissions=0700",
		"-c max_connections=200",
		"-c fsync=on",
	}, " ")
	if err := c.pgCtl(ctx, "start", "-w", "-t", "60", "-l", c.logFile, "-o", options); err != nil {
		return fmt.Errorf("start postgres: %w\n%s", err, c.logTail())
	}
	if err := c.ping(ctx); err != nil {
		stopErr := c.pgCtl(ctx, "stop", "-w", "-t", "30", "-m", "fast")
		return errors.Join(fmt.Errorf("connect to new postgres: %w", err), stopErr)
	}
	pid, err := readPID(filepath.Join(c.dataDir, "postmaster.pid"))
	if err == nil && pid == 0 {
		err = errors.New("postmaster.pid is missing")
	}
	if err != nil {
		stopErr := c.pgCtl(ctx, "stop", "-w", "-t", "30", "-m", "fast")
		return errors.Join(fmt.Errorf("new postgres: %w", err), stopErr)
	}
	c.pid = pid
	c.logger.Info("postgres started", "dir", c.dir, "socket_dir", c.sockDir)
	return nil
}

func (c *Cluster) ping(ctx context.Context) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

func (c *Cluster) pgCtl(ctx context.Context, args ...string) error {
	return c.run(ctx, c.bin.pgCtl(), append([]string{"-D", c.dataDir}, args...)...)
}

// run runs a server program as the server's user and puts its output in the
// error, since that is where initdb and pg_ctl explain what went wrong.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	cmd.Env = childEnv(c.owner)
	if c.owner != nil {
		cmd.SysProcAttr = c.owner.credential()
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) logTail() string {
	data, err := os.ReadFile(c.logFile)
	if err != nil {
		return fmt.Sprintf("(server log unreadable: %v)", err)
	}
	if len(data) > logTail {
		data = data[len(data)-logTail:]
	}
	return "server log " + c.logFile + ":\n" + string(bytes.TrimSpace(data))
}

// quoteValue quotes a lib/pq key/value connection string value.
func quoteValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// shellQuote quotes one word for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
