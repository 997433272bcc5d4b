// Package templates renders the site's HTML pages, each from the data type
// of its own declared here (a View). Every page is the one layout with the
// header partial around the page's own content.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"aistat"
)

//go:embed *.html
var files embed.FS

// pages are the names of the pages, one for each View; each has a file
// named page+".html" that defines the "content" template.
var pages = []string{"home", "login", "settings", "admin", "audit", "user-delete", "reset-link", "reset", "sessions", "error"}

// partials are parsed with every page, for the pages that share them.
var partials = []string{"layout.html", "header.html", "audit-log.html"}

// Templates holds every page, parsed once at start-up.
type Templates struct {
	pages map[string]*template.Template
}

// New parses every page together with the layout and the header partial.
// Template code links the site's static files with {{asset "name"}}, which
// New replaces by assetURL(name) before parsing: the links are the same
// for every request, and each action the templates run costs reflective
// calls of the action and of its escapers. New fails if any page is
// missing or broken, or links a file in any other way.
func New(assetURL func(name string) string) (*Templates, error) {
	if assetURL == nil {
		return nil, errors.New("templates: nil asset URL function")
	}
	sources, err := readSources(assetURL)
	if err != nil {
		return nil, err
	}
	options, err := renderRoleOptions(sources["role-options.html"])
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"isoTime":     isoTime,
		"displayTime": displayTime,
		"roleOptions": func(selected aistat.Role) template.HTML {
			if html, ok := options[selected]; ok {
				return html
			}
			return options[""]
		},
	}
	t := &Templates{pages: make(map[string]*template.Template, len(pages))}
	for _, page := range pages {
		tmpl := template.New(page).Funcs(funcs)
		for _, file := range slices.Concat(partials, []string{page + ".html"}) {
			src, ok := sources[file]
			if !ok {
				return nil, fmt.Errorf("templates: %s: no file %s", page, file)
			}
			if _, err := tmpl.New(file).Parse(src); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", page, err)
			}
		}
		for _, name := range []string{"layout", "header", "content"} {
			if tmpl.Lookup(name) == nil {
				return nil, fmt.Errorf("templates: %s: no %q template", page, name)
			}
		}
		if err := escape(tmpl); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", page, err)
		}
		t.pages[page] = tmpl
	}
	return t, nil
}

// assetAction is an asset link in a template's source.
var assetAction = regexp.MustCompile(`\{\{asset "([^"{}]+)"\}\}`)

// plainAssetURL is a path on this site (not "//host") that reads the same
// in any attribute value and URL of a page, so it can stand in the template
// as it is.
var plainAssetURL = regexp.MustCompile(`^/[A-Za-z0-9._~-][A-Za-z0-9/._~-]*(\?v=[A-Za-z0-9_-]+)?$`)

// readSources reads every template file with its asset links resolved.
func readSources(assetURL func(name string) string) (map[string]string, error) {
	entries, err := fs.Glob(files, "*.html")
	if err != nil {
		return nil, err
	}
	sources := make(map[string]string, len(entries))
	for _, name := range entries {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var bad error
		sources[name] = assetAction.ReplaceAllStringFunc(string(b), func(action string) string {
			url := assetURL(assetAction.FindStringSubmatch(action)[1])
			if !plainAssetURL.MatchString(url) && bad == nil {
				bad = fmt.Errorf("templates: %s: asset URL %q has characters a page would need escaped", name, url)
			}
			return url
		})
		if bad != nil {
			return nil, bad
		}
	}
	return sources, nil
}

// renderRoleOptions renders the options of a role select once for each
// role selected, and for none, from the "role-options" template in src. The
// admin page has a select in each of its fifty rows: as one ready piece of
// HTML, made by html/template and so escaped, it costs two calls instead of
// fifteen.
func renderRoleOptions(src string) (map[aistat.Role]template.HTML, error) {
	tmpl, err := template.New("role-options.html").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("templates: role options: %w", err)
	}
	type option struct {
		Value    aistat.Role
		Label    string
		Selected bool
	}
	rendered := make(map[aistat.Role]template.HTML, len(aistat.Roles)+1)
	for _, selected := range append([]aistat.Role{""}, aistat.Roles...) {
		options := make([]option, len(aistat.Roles))
		for i, role := range aistat.Roles {
			options[i] = option{Value: role, Label: role.Label(), Selected: role == selected}
		}
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "role-options", options); err != nil {
			return nil, fmt.Errorf("templates: role options: %w", err)
		}
		rendered[selected] = template.HTML(b.String())
	}
	return rendered, nil
}

// escape makes html/template run its contextual escaper now rather than on
// the first request, so a page it cannot escape safely fails at start-up.
// Executing with nil data escapes the whole page before anything runs; the
// execution errors that nil data may cause are not escaping errors and are
// ignored.
func escape(tmpl *template.Template) error {
	err := tmpl.ExecuteTemplate(io.Discard, "layout", nil)
	if escErr, ok := errors.AsType[*template.Error](err); ok {
		return escErr
	}
	return nil
}

// execute renders the named page with data to w. Nothing is written when
// rendering fails, so the caller can still answer with an error of its own.
func (t *Templates) execute(w io.Writer, page string, data any) error {
	tmpl, ok := t.pages[page]
	if !ok {
		return fmt.Errorf("templates: unknown page %q", page)
	}
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		// A rare huge page would otherwise pin its memory in the pool.
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	if err := tmpl.ExecuteTemplate(buf, "layout", data); err != nil {
		return fmt.Errorf("templates: %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// buffers are reused across renders: a page grown from an empty buffer
// costs its size several times over in allocations.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse.
const maxPooledBuffer = 1 << 20

// isoTime formats t as RFC 3339 in UTC, for a <time datetime> attribute.
func isoTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// displayTime formats t in UTC for people to read: "2026-11-27 07:51 UTC".
func displayTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
