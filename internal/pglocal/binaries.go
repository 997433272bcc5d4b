package pglocal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// debianRoot holds one <major version>/bin folder per installed server
// version; Debian keeps them off PATH so several versions can coexist.
const debianRoot = "/usr/lib/postgresql"

// binaries locates the server programs; pg_ctl finds postgres next to itself,
// so all three must come from the same folder.
type binaries struct {
	dir string
}

func (b binaries) initdb() string { return filepath.Join(b.dir, "initdb") }

func (b binaries) pgCtl() string { return filepath.Join(b.dir, "pg_ctl") }

// pgBasebackup is the pg_basebackup of pg_ctl's installation: a folder on
// PATH may link only the three server programs to it.
func (b binaries) pgBasebackup() string {
	if ctl, err := filepath.EvalSymlinks(b.pgCtl()); err == nil {
		return filepath.Join(filepath.Dir(ctl), "pg_basebackup")
	}
	return filepath.Join(b.dir, "pg_basebackup")
}

// binSearch says where to look for the server programs, so tests can point it
// at an empty folder.
type binSearch struct {
	path string // PATH-style list, searched first
	root string // folder of per-version installs, highest version wins
}

func systemSearch() binSearch {
	return binSearch{path: os.Getenv("PATH"), root: debianRoot}
}

func (s binSearch) find() (binaries, error) {
	dirs := slices.Concat(filepath.SplitList(s.path), versionDirs(s.root))
	for _, dir := range dirs {
		// Relative PATH entries would make the choice depend on the working folder.
		if filepath.IsAbs(dir) && hasServerPrograms(dir) {
			return binaries{dir: dir}, nil
		}
	}
	return binaries{}, fmt.Errorf("postgresql server programs (initdb, pg_ctl, postgres) not found on PATH or in %s/<version>/bin: "+
		"install the Debian package postgresql (apt-get install postgresql), or set DATABASE_URL to use an existing server instead", s.root)
}

// versionDirs lists root/<version>/bin, highest version first.
func versionDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type install struct {
		version []int
		bin     string
	}
	var installs []install
	for _, e := range entries {
		if v, ok := parseVersion(e.Name()); ok {
			installs = append(installs, install{version: v, bin: filepath.Join(root, e.Name(), "bin")})
		}
	}
	slices.SortFunc(installs, func(a, b install) int {
		return -slices.Compare(a.version, b.version)
	})
	dirs := make([]string, len(installs))
	for i, in := range installs {
		dirs[i] = in.bin
	}
	return dirs
}

// parseVersion reads folder names such as "15" or "9.6" numerically so that
// 10 sorts above 9.
func parseVersion(name string) ([]int, bool) {
	var version []int
	for part := range strings.SplitSeq(name, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		version = append(version, n)
	}
	return version, true
}

func hasServerPrograms(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}
