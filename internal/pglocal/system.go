package pglocal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// serverUser is the system account the postgresql package creates; the
// server refuses to run as root, so root hands the cluster to it.
const serverUser = "postgres"

// account is the system user that owns and runs the cluster when the app
// runs as root.
type account struct {
	uid    uint32
	gid    uint32
	groups []uint32
	home   string
}

// serverAccount returns nil when the app is not root, meaning the cluster runs
// as the current user.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("running as root needs the %s system user that the postgresql package creates: %w", serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid of %s: %w", serverUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid of %s: %w", serverUser, err)
	}
	a := &account{uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("list groups of %s: %w", serverUser, err)
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parse group of %s: %w", serverUser, err)
		}
		a.groups = append(a.groups, uint32(g))
	}
	return a, nil
}

func (a *account) credential() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}}
}

// chown hands a path the app created to the server account; a nil account
// means the app and the server are the same user already.
func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("hand %s to %s: %w", path, serverUser, err)
	}
	return nil
}

// canEnter reports whether the account may traverse the folder, judged by its
// mode bits the way the kernel does for a non-root user.
func (a *account) canEnter(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkTraversable fails early with a useful message instead of letting
// initdb or the server die on a permission error deep inside the folder.
func (a *account) checkTraversable(dir string) error {
	if a == nil {
		return nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check access to %s: %w", p, err)
		}
		if !a.canEnter(fi) {
			return fmt.Errorf("the %s user cannot enter %s (mode %#o), so the database cannot live in %s: "+
				"choose a data dir whose parent folders everyone may traverse, e.g. under /var/lib or /srv", serverUser, p, fi.Mode().Perm(), dir)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// childEnv keeps the app's environment minus settings that would steer the
// server tools elsewhere (PG*) or translate their messages (locale), so error
// output and the log stay predictable.
func childEnv(a *account) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"), k == "LANG", k == "LANGUAGE":
			continue
		case a != nil && (k == "HOME" || k == "USER" || k == "LOGNAME"):
			continue
		}
		env = append(env, kv)
	}
	if a != nil {
		env = append(env, "HOME="+a.home, "USER="+serverUser, "LOGNAME="+serverUser)
	}
	return env
}

// readPID reads the process id on the first line of a postgres lock file
// (postmaster.pid or a socket lock); 0 means there is no such file.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(line)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read %s: no process id on its first line", path)
	}
	return pid, nil
}

// isPostgres reports whether pid is a live postgres process. Zombies and
// processes of other users read as not running, which is what matters: a
// zombie holds no resources and another user's process cannot be ours.
func isPostgres(pid int) bool {
	exe, err := os.Readlink(procPath(pid, "exe"))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "postgres"
}

// servesDir reports whether pid is a postgres process of the cluster in
// dataDir (a resolved path): every server process works from its data folder.
func servesDir(pid int, dataDir string) bool {
	if !isPostgres(pid) {
		return false
	}
	cwd, err := os.Readlink(procPath(pid, "cwd"))
	return err == nil && cwd == dataDir
}

// processesOf lists the live postgres processes of the cluster in dataDir,
// including backends orphaned by a killed postmaster.
func processesOf(dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && servesDir(pid, dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func procPath(pid int, name string) string {
	return filepath.Join("/proc", strconv.Itoa(pid), name)
}
