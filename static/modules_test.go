package static

import (
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// scripts returns every embedded script by name.
func scripts(tb testing.TB) map[string]string {
	tb.Helper()
	names, err := fs.Glob(files, "*.js")
	if err != nil || len(names) == 0 {
		tb.Fatalf("embedded scripts: %q, %v", names, err)
	}
	m := make(map[string]string, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			tb.Fatal(err)
		}
		m[name] = string(b)
	}
	return m
}

// importPattern finds the specifiers of static imports and exports
// (import ... from '...', export ... from '...', import '...') and of
// dynamic ones (import('...')).
var importPattern = regexp.MustCompile(`(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]`)

// TestModules_ImportsAreVersioned: a script imports its siblings by
// relative URLs, and such a URL, resolved against the versioned URL the
// page loads the importer from, is the sibling's own versioned URL, so
// that every module of a page is of one release and loaded once.
func TestModules_ImportsAreVersioned(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	imports := 0
	for name, src := range scripts(t) {
		base, err := url.Parse(a.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range importPattern.FindAllStringSubmatch(src, -1) {
			imports++
			spec := m[1]
			target, ok := strings.CutPrefix(spec, "./")
			if !ok || strings.Contains(target, "/") || !isModule(target) {
				t.Errorf("%s imports %q, want a sibling as ./<name>.js", name, spec)
				continue
			}
			if _, ok := a.files[target]; !ok {
				t.Errorf("%s imports %q, which is not embedded", name, spec)
				continue
			}
			ref, err := url.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := base.ResolveReference(ref).String(), a.URL(target); got != want {
				t.Errorf("%s (%s) imports %q as %q, want %q", name, base, spec, got, want)
			}
		}
	}
	if imports == 0 {
		t.Error("no script imports another: this test checks nothing")
	}
}

// TestModules_FolderFollowsEveryScript: a change to any script moves
// every script to a new folder, since each may import the changed one; a
// change to another file moves none.
func TestModules_FolderFollowsEveryScript(t *testing.T) {
	fsys := fstest.MapFS{
		"a.js":  {Data: []byte("import { b } from './b.js';")},
		"b.js":  {Data: []byte("export const b = 1;")},
		"c.css": {Data: []byte(":root {}")},
	}
	urls := func() (string, string) {
		t.Helper()
		a, err := load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return a.URL("a.js"), a.URL("c.css")
	}
	js, css := urls()
	fsys["b.js"] = &fstest.MapFile{Data: []byte("export const b = 2;")}
	js2, css2 := urls()
	if js2 == js {
		t.Errorf("a.js stays at %s although b.js, which it imports, changed", js)
	}
	if css2 != css {
		t.Errorf("c.css moved from %s to %s, want it to stay", css, css2)
	}
	fsys["c.css"] = &fstest.MapFile{Data: []byte(":root { color: red }")}
	if js3, _ := urls(); js3 != js2 {
		t.Errorf("a.js moved from %s to %s for a change of c.css", js2, js3)
	}
}

// serverLogic finds, in a script, what belongs to the server: the global
// the scripts once shared (load order), role names or labels in quotes
// (a copy of the labels, or a role compared with 'admin': the staff rule),
// upper-casing (the initials rule), and the URLs of the admin table's
// actions. Labels, initials, the staff flag and the actions come from the
// user's JSON and from the page's data- attributes.
var serverLogic = []struct {
	what    string
	pattern *regexp.Regexp
}{
	{"a shared global", regexp.MustCompile(`\b(?:window|globalThis|self)\s*\.\s*aistat\b|\b(?:window|globalThis|self)\s*\[\s*['"]aistat['"]\s*\]`)},
	{"a role name or label", regexp.MustCompile("(?i)['\"`](?:admin|editor|viewer)['\"`]")},
	{"upper-casing (initials)", regexp.MustCompile(`\.toUpperCase\b|\.toLocaleUpperCase\b`)},
	{"an admin action's URL", regexp.MustCompile(`/admin/users\b`)},
}

// TestScripts_NoServerLogic keeps the scripts free of copies of what the
// server decides, and of a shared global.
func TestScripts_NoServerLogic(t *testing.T) {
	for name, src := range scripts(t) {
		for _, rule := range serverLogic {
			if m := rule.pattern.FindString(src); m != "" {
				t.Errorf("%s has %s: %q", name, rule.what, m)
			}
		}
	}
}

// TestServerLogicPatterns: the patterns find what they are for, and not
// the scripts' own words.
func TestServerLogicPatterns(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{`window.aistat = { applyUser };`, true},
		{`const aistat = window.aistat;`, true},
		{`globalThis['aistat']`, true},
		{`const ROLE_LABELS = { admin: 'Admin', editor: 'Editor' };`, true},
		{`if (user.role === "admin") {`, true},
		{"new Set([`editor`])", true},
		{`Array.from(word)[0].toUpperCase()`, true},
		{`toggle.setAttribute('formaction', '/admin/users/' + id + '/enable');`, true},
		{`link.href = '/admin';`, false},
		{`const NAME = 'aistat-events';`, false},
		{`import { applyUser } from './app.js';`, false},
		{`el.textContent = user.roleLabel;`, false},
	} {
		found := false
		for _, rule := range serverLogic {
			found = found || rule.pattern.MatchString(tt.src)
		}
		if found != tt.want {
			t.Errorf("%s: found = %v, want %v", tt.src, found, tt.want)
		}
	}
}
