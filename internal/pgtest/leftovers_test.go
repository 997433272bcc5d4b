package pgtest

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"aistat/internal/pglocal"
)

// TestSweepLeftovers: the cluster of a test binary that died is stopped
// and its folder removed; folders of a live binary, or naming no owner,
// stay.
func TestSweepLeftovers(t *testing.T) {
	tmp, err := os.MkdirTemp("", "sweep-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	folder := func(name string) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := folder("pgtest-dead")
	if err := os.WriteFile(filepath.Join(dead, ownerFile), []byte(strconv.Itoa(gone.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	cluster, err := pglocal.Start(t.Context(), dead, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dead, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if alive(postmaster) {
			_ = cluster.Stop(t.Context())
		}
	})
	live := folder("pgtest-live")
	if err := claimOwnership(live); err != nil {
		t.Fatal(err)
	}
	unowned := folder("pgtest-unowned")

	if errs := sweepLeftovers(tmp); len(errs) > 0 {
		t.Fatalf("sweep: %v", errs)
	}
	if alive(postmaster) {
		t.Error("the dead binary's postmaster still runs")
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead binary's folder: %v, want it removed", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(tmp, "*.stale")); len(matches) > 0 {
		t.Errorf("left behind: %v", matches)
	}
	for _, dir := range []string{live, unowned} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: %v, want it left alone", dir, err)
		}
	}
}
