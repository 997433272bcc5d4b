package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.css", "favicon.svg"} {
		got := a.URL(name)
		want := "/static/" + name + "?v=" + a.files[name].hash
		if got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
		if len(a.files[name].hash) != 10 {
			t.Errorf("hash of %s = %q, want 10 hex digits", name, a.files[name].hash)
		}
	}
	for _, name := range []string{"app.js", "live.js"} {
		if got, want := a.URL(name), "/static/"+a.modules+"/"+name; got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
	}
	if !isVersion(a.modules) {
		t.Errorf("modules' folder %q, want 10 hex digits", a.modules)
	}
	if got := a.URL("missing.css"); got != "/static/missing.css" {
		t.Errorf("URL(unknown) = %q", got)
	}
	if _, ok := a.files["static.go"]; ok {
		t.Error("Go source is embedded")
	}
}

func TestServeHTTP(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cssHash := a.files["app.css"].hash
	modules := "/static/" + a.modules + "/"
	tests := []struct {
		name        string
		method      string
		target      string
		header      map[string]string
		status      int
		contentType string
		cache       string
		body        string
	}{
		{name: "css versioned", method: "GET", target: "/static/app.css?v=" + cssHash, status: 200,
			contentType: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable", body: ":root"},
		{name: "css unversioned", method: "GET", target: "/static/app.css", status: 200,
			contentType: "text/css; charset=utf-8", cache: "public, max-age=300", body: ":root"},
		{name: "css stale version", method: "GET", target: "/static/app.css?v=0000000000", status: 200,
			contentType: "text/css; charset=utf-8", cache: "public, max-age=300"},
		{name: "js", method: "GET", target: "/static/app.js", status: 200,
			contentType: "text/javascript; charset=utf-8", cache: "public, max-age=300", body: "export "},
		{name: "module versioned", method: "GET", target: modules + "live.js", status: 200,
			contentType: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", body: "import "},
		{name: "module stale version", method: "GET", target: "/static/0000000000/app.js", status: 200,
			contentType: "text/javascript; charset=utf-8", cache: "public, max-age=300", body: "export "},
		{name: "module folder not a version", method: "GET", target: "/static/js/app.js", status: 404, body: "not found"},
		{name: "module folder upper case", method: "GET", target: "/static/ABCDEF0123/app.js", status: 404, body: "not found"},
		{name: "module folder nested", method: "GET", target: modules + "sub/app.js", status: 404, body: "not found"},
		{name: "module folder css", method: "GET", target: modules + "app.css", status: 404, body: "not found"},
		{name: "module folder itself", method: "GET", target: modules, status: 404, body: "not found"},
		{name: "module folder traversal", method: "GET", target: modules + "..%2fstatic.go", status: 404, body: "not found"},
		{name: "svg", method: "GET", target: "/static/favicon.svg", status: 200,
			contentType: "image/svg+xml", body: "<svg"},
		{name: "head", method: "HEAD", target: "/static/app.js", status: 200,
			contentType: "text/javascript; charset=utf-8"},
		{name: "not modified", method: "GET", target: "/static/app.css",
			header: map[string]string{"If-None-Match": `"` + cssHash + `"`}, status: 304},
		{name: "etag mismatch", method: "GET", target: "/static/app.css",
			header: map[string]string{"If-None-Match": `"0000000000"`}, status: 200, body: ":root"},
		{name: "unknown", method: "GET", target: "/static/nope.css", status: 404, body: "not found"},
		{name: "folder", method: "GET", target: "/static/", status: 404, body: "not found"},
		{name: "traversal", method: "GET", target: "/static/../static.go", status: 404, body: "not found"},
		{name: "encoded traversal", method: "GET", target: "/static/%2e%2e/x", status: 404, body: "not found"},
		{name: "encoded slash", method: "GET", target: "/static/..%2fstatic.go", status: 404, body: "not found"},
		{name: "go source", method: "GET", target: "/static/static.go", status: 404, body: "not found"},
		{name: "sub-folder", method: "GET", target: "/static/sub/app.css", status: 404, body: "not found"},
		{name: "outside prefix", method: "GET", target: "/app.css", status: 404, body: "not found"},
		{name: "post", method: "POST", target: "/static/app.css", status: 405},
		{name: "delete", method: "DELETE", target: "/static/app.js", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", res.StatusCode, tt.status, body)
			}
			if tt.contentType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
				}
			}
			if tt.cache != "" {
				if got := res.Header.Get("Cache-Control"); got != tt.cache {
					t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
				}
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body %.80q does not contain %q", body, tt.body)
			}
			switch tt.status {
			case http.StatusOK:
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q", got)
				}
				if got := res.Header.Get("ETag"); !strings.HasPrefix(got, `"`) || len(got) != 12 {
					t.Errorf("ETag = %q, want a quoted 10-digit hash", got)
				}
				if tt.method == http.MethodHead && len(body) != 0 {
					t.Errorf("HEAD returned a body of %d bytes", len(body))
				}
			case http.StatusNotFound:
				if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
					t.Errorf("404 Content-Type = %q", got)
				}
				if len(body) > 100 {
					t.Errorf("404 body is %d bytes, want a short message", len(body))
				}
			case http.StatusMethodNotAllowed:
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q", got)
				}
			}
		})
	}
}
