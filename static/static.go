// Package static embeds the site's stylesheet, scripts and icon and serves
// them under /static/ with content-hashed URLs.
//
// The scripts are ES modules that import each other by relative URLs
// ("./app.js"). A hash in the query (?v=) would not survive such an import:
// live.js?v=1 importing ./app.js gets app.js unversioned, cached for minutes
// and perhaps of another release, and a second instance of the module if
// the page also loads app.js?v=2. So the modules are served from a folder
// named by one hash over all of them, /static/<hash>/app.js: a relative
// import stays in the folder, every module of a page is of the same
// release, and each is one module instance whoever imports it. Nothing is
// rewritten and no import map (inline script, which the
// Content-Security-Policy forbids) is needed. The other files keep ?v=.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed *.css *.js *.svg
var files embed.FS

// prefix is the URL path every asset is served under.
const prefix = "/static/"

// contentTypes maps the file extensions that may be embedded to the
// Content-Type they are served with.
var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// isModule reports whether the named file is a script, served as an ES
// module from the modules' folder.
func isModule(name string) bool { return path.Ext(name) == ".js" }

// asset is one embedded file ready to serve.
type asset struct {
	content     []byte
	hash        string
	contentType string
}

// Assets serves the embedded CSS and JavaScript under /static/ with versioned URLs.
type Assets struct {
	files map[string]asset
	// modules is the hash of every script together, the name of the folder
	// the scripts are served from.
	modules string
}

// New loads every embedded file and fingerprints it with the first ten hex
// digits of its SHA-256.
func New() (*Assets, error) { return load(files) }

// load is New on any set of files, for tests of the versions.
func load(fsys fs.FS) (*Assets, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	a := &Assets{files: make(map[string]asset, len(entries))}
	modules := sha256.New()
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		name := entry.Name()
		contentType, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("static: no content type for %q", name)
		}
		content, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		sum := sha256.Sum256(content)
		if isModule(name) {
			// ReadDir lists in name order, so the folder's hash is stable.
			fmt.Fprintf(modules, "%s\x00%x\x00", name, sum)
		}
		a.files[name] = asset{
			content:     content,
			hash:        hex.EncodeToString(sum[:])[:10],
			contentType: contentType,
		}
	}
	if len(a.files) == 0 {
		return nil, errors.New("static: no files embedded")
	}
	a.modules = hex.EncodeToString(modules.Sum(nil))[:10]
	return a, nil
}

// URL returns the versioned URL of the named file, such as
// "/static/app.css?v=0123456789", or for a script
// "/static/0123456789/app.js" (see the package comment). An unknown name
// gets an unversioned URL.
func (a *Assets) URL(name string) string {
	f, ok := a.files[name]
	switch {
	case !ok:
		return prefix + name
	case isModule(name):
		return prefix + a.modules + "/" + name
	}
	return prefix + name + "?v=" + f.hash
}

// ServeHTTP serves the file named by the request path "/static/<name>",
// and a script also as "/static/<modules' hash>/<name>". Only the exact
// names of embedded files are found; anything else is 404. A request for
// the current version (the folder's hash for a script, the v parameter
// for the others) may be cached for a year; any other for five minutes.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	folder, inFolder := "", false
	if ok {
		if dir, file, cut := strings.Cut(name, "/"); cut {
			folder, name, inFolder = dir, file, true
		}
	}
	f, found := a.files[name]
	// A folder of another release is served the current scripts, as a
	// stale v parameter is, for pages loaded before a deployment.
	if !ok || !found || inFolder && (!isModule(name) || !isVersion(folder)) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+f.hash+`"`)
	if inFolder && folder == a.modules || !inFolder && r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}

// isVersion reports whether s looks like a hash of ours: ten lowercase hex
// digits.
func isVersion(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
