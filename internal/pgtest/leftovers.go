package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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
// removes their folders. A folder whose owner is alive, or which names no
// owner, is left alone; of several binaries sweeping at once, the one whose
// rename claims a folder sweeps it.
func sweepLeftovers(tempDir string) []error {
	dirs, err := filepath.Glob(filepath.Join(tempDir, folderPattern))
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, dir := range dirs {
		owner, err := readPID(filepath.Join(dir, ownerFile))
		if err != nil || alive(owner) || strings.HasSuffix(dir, ".stale") {
			continue
		}
		claimed := dir + ".stale"
		if os.Rename(dir, claimed) != nil {
			continue
		}
		if err := stopPostmaster(claimed, dir); err != nil {
			errs = append(errs, fmt.Errorf("leftover cluster %s: %w", dir, err))
			continue
		}
		if err := os.RemoveAll(claimed); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// stopPostmaster ends the postmaster of the cluster folder dir, once at
// startedAt, at once (SIGQUIT: nothing in it is worth a checkpoint). The
// process is checked to be that cluster's postmaster, in case its pid was
// reused.
func stopPostmaster(dir, startedAt string) error {
	pid, err := readPID(filepath.Join(dir, "postgres", "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(startedAt, "postgres"))) {
		return nil // gone, or another process now
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("postmaster %d did not exit", pid)
		}
	}
	return nil
}

// readPID reads the process id on the first line of a pid file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no process id", path)
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
