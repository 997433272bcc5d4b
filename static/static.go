// Package static embeds the site's stylesheet, script and icon and serves
// them under /static/ with content-hashed URLs.
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

// asset is one embedded file ready to serve.
type asset struct {
	content     []byte
	hash        string
	contentType string
}

// Assets serves the embedded CSS and JavaScript under /static/ with versioned URLs.
type Assets struct {
	files map[string]asset
}

// New loads every embedded file and fingerprints it with the first ten hex
// digits of its SHA-256.
func New() (*Assets, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	a := &Assets{files: make(map[string]asset, len(entries))}
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		name := entry.Name()
		contentType, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("static: no content type for %q", name)
		}
		content, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		sum := sha256.Sum256(content)
		a.files[name] = asset{
			content:     content,
			hash:        hex.EncodeToString(sum[:])[:10],
			contentType: contentType,
		}
	}
	if len(a.files) == 0 {
		return nil, errors.New("static: no files embedded")
	}
	return a, nil
}

// URL returns the versioned URL of the named file, such as
// "/static/app.css?v=0123456789". An unknown name gets an unversioned URL.
func (a *Assets) URL(name string) string {
	f, ok := a.files[name]
	if !ok {
		return prefix + name
	}
	return prefix + name + "?v=" + f.hash
}

// ServeHTTP serves the file named by the request path "/static/<name>".
// Only the exact names of embedded files are found; anything else is 404.
// A request whose v parameter matches the file's hash may be cached for a
// year; any other for five minutes.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	f, found := a.files[name]
	if !ok || !found {
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
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}
