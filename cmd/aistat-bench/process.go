package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// siteProcess is the app running as its own process, as in production.
type siteProcess struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

// buildBinary compiles cmd/aistat into dir.
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "aistat")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aistat")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return bin, nil
}

// startSite runs `aistat serve` on dsn and waits until it listens. Its log
// goes to logPath: an access log line per request, as in production.
func startSite(bin, dsn, logPath string, extra ...string) (*siteProcess, error) {
	args := append([]string{"serve", "--database-url", dsn, "--addr", "127.0.0.1:0", "--demo=false"}, extra...)
	cmd := exec.Command(bin, args...)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &siteProcess{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "aistat is running at "); ok {
				addr <- rest
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.done <- cmd.Wait()
		logFile.Close()
	}()
	select {
	case s.base = <-addr:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("serve exited: %v (log: %s)", err, logPath)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("serve printed no address")
	}
}

// stop ends the site with SIGTERM.
func (s *siteProcess) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// rss is the site's resident memory in bytes.
func (s *siteProcess) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// signIn signs in through the site's form and returns the session cookie's
// value.
func signIn(base, email, password string) (string, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return "", err
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "session" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("sign in as %s: status %d, no cookie", email, res.StatusCode)
}

// tokenHash is what the sessions table stores for a cookie's token: scs's
// hash, SHA-256 in unpadded base64url.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// statements is what pg_stat_statements has counted so far: all statements,
// and those that write (INSERT, UPDATE, DELETE), excluding the benchmark's
// own queries of the statistics.
func statements(ctx context.Context, db *sql.DB) (all, writes int64, err error) {
	err = db.QueryRowContext(ctx, `
		SELECT coalesce(sum(calls), 0),
		       coalesce(sum(calls) FILTER (WHERE query ~* '^\s*(insert|update|delete)'), 0)
		FROM pg_stat_statements
		WHERE query NOT LIKE '%pg_stat_statements%'`).Scan(&all, &writes)
	return all, writes, err
}
