package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"aistat/internal/pglocal"
)

// ownerFile names, in a cluster folder, the test binary that owns it.
const ownerFile = "owner.pid"

// folderPattern matches the cluster folders of test binaries in the
// temporary folder.
const folderPattern = "pgtest-*"

// claimOwnership records this process as the owner of the cluster folder.
func claimOwnership(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// sweepLeftovers stops the clusters of earlier test binaries that died
// without stopping them (a panic in a test skips every deferred call) and
// removes their folders. pglocal.Kill finds the cluster's processes by
// their working folder, so a reused pid is never mistaken for them. A folder whose owner is alive, or which names no
// owner, is left alone; of several binaries sweeping at once, the one whose
// rename claims a folder sweeps it.
func sweepLeftovers(tempDir string) []error {
	dirs, err := filepath.Glob(filepath.Join(tempDir, folderPattern))
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, dir := range dirs {
		owner, err := readOwner(dir)
		if err != nil || alive(owner) || strings.HasSuffix(dir, ".stale") {
			continue
		}
		claimed := dir + ".stale"
		if os.Rename(dir, claimed) != nil {
			continue
		}
		if err := pglocal.Kill(context.Background(), claimed, nil); err != nil {
			errs = append(errs, fmt.Errorf("leftover cluster %s: %w", dir, err))
			continue
		}
		if err := os.RemoveAll(claimed); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// readOwner reads the process id in a folder's owner file.
func readOwner(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no process id", filepath.Join(dir, ownerFile))
	}
	return pid, nil
}

// alive reports whether a process with the pid exists. A zombie (exited,
// not yet reaped by its parent) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command's closing parenthesis.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}
