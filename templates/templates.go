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
	"aistat/internal/i18n"
)

//go:embed *.html
var files embed.FS

// pages are the names of the pages, one for each View; each has a file
// named page+".html" that defines the "content" template.
var pages = []string{"home", "login", "settings", "admin", "audit", "user-confirm", "reset-link", "reset", "sessions", "error", "forgot", "email-confirm", "twofactor", "login-code", "reauth"}

// partials are parsed with every page, for the pages that share them.
var partials = []string{"layout.html", "header.html", "audit-log.html", "error-summary.html", "admin-mail.html", "email-change.html", "passkeys.html"}

// Templates holds every page in every language, parsed once at start-up.
type Templates struct {
	pages map[aistat.Locale]map[string]*template.Template
	// def is the language of a page whose data names none.
	def aistat.Locale
}

// New parses every page together with the layout and the header partial,
// once for each language of the catalogue. Template code links the site's
// static files with {{asset "name"}}, which New replaces by assetURL(name)
// before parsing; the same way, {{t "key"}} becomes the language's message
// of key, escaped as HTML text, {{lang}} the language's code and
// {{langOptions}} the language switch's options. Links
// and words are the same for every request in a language, and each action
// the templates run costs reflective calls of the action and of its
// escapers. New fails if any page is missing or broken, links a file in
// any other way, or uses a message the catalogue does not have. A page
// whose data names no language renders in def.
func New(assetURL func(name string) string, catalogue *i18n.Catalogue, def aistat.Locale) (*Templates, error) {
	if assetURL == nil {
		return nil, errors.New("templates: nil asset URL function")
	}
	if catalogue == nil {
		return nil, errors.New("templates: nil catalogue")
	}
	if _, ok := aistat.ParseLocale(string(def)); !ok {
		return nil, fmt.Errorf("templates: default language %q is none of the site's", def)
	}
	sources, err := readSources(assetURL)
	if err != nil {
		return nil, err
	}
	t := &Templates{pages: make(map[aistat.Locale]map[string]*template.Template, len(aistat.Locales)), def: def}
	for _, locale := range aistat.Locales {
		loc := catalogue.Localizer(locale)
		localized, err := localize(sources, loc)
		if err != nil {
			return nil, err
		}
		if t.pages[locale], err = parse(localized, loc); err != nil {
			return nil, fmt.Errorf("%w (%s)", err, locale)
		}
	}
	return t, nil
}

// messageAction is a message or the language code in a template's source.
var messageAction = regexp.MustCompile(`\{\{(?:t "([^"{}]+)"|lang|langOptions)\}\}`)

// localize replaces the message actions of every source by the messages of
// loc. A message is escaped as HTML text, which reads the same in text and
// in quoted attribute values, the only places a template puts one.
func localize(sources map[string]string, loc *i18n.Localizer) (map[string]string, error) {
	out := make(map[string]string, len(sources))
	for name, src := range sources {
		var bad error
		out[name] = messageAction.ReplaceAllStringFunc(src, func(action string) string {
			switch action {
			case "{{lang}}":
				return string(loc.Lang())
			case "{{langOptions}}":
				return languageOptions(loc)
			}
			key := messageAction.FindStringSubmatch(action)[1]
			if !loc.Has(key) && bad == nil {
				bad = fmt.Errorf("templates: %s: no message %q", name, key)
			}
			return template.HTMLEscapeString(loc.T(key))
		})
		if bad != nil {
			return nil, bad
		}
	}
	return out, nil
}

// languageOptions are the language switch's options, the page's own
// selected, each language named in itself.
func languageOptions(loc *i18n.Localizer) string {
	var b strings.Builder
	for _, l := range aistat.Locales {
		code := template.HTMLEscapeString(string(l))
		fmt.Fprintf(&b, `<option value="%s" lang="%s"`, code, code)
		if l == loc.Lang() {
			b.WriteString(" selected")
		}
		fmt.Fprintf(&b, ">%s</option>", template.HTMLEscapeString(loc.T("lang."+string(l))))
	}
	return b.String()
}

// parse parses every page of one language.
func parse(sources map[string]string, loc *i18n.Localizer) (map[string]*template.Template, error) {
	options, err := renderRoleOptions(sources["role-options.html"], loc)
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"isoTime": isoTime,
		// displayTime is a time as the page's reader reads it: in the
		// page's language and in zone, the reader's.
		"displayTime": func(zone *time.Location, t time.Time) string { return loc.Time(t, zone) },
		// ago is how long before now a time was, in words ("2 minutes
		// ago"); a time long ago is its date in zone.
		"ago": func(now time.Time, zone *time.Location, t time.Time) string { return loc.Ago(t, now, zone) },
		// f says a message with arguments, given as name and value pairs:
		// {{f "reset.for" "Email" .Email}}.
		"f": func(key string, pairs ...any) string {
			return loc.F(key, arguments(pairs, func(v any) any { return v }))
		},
		// fHTML is f for a message that holds markup of its own (its key
		// ends in HTML): the values are escaped, the message's markup,
		// ours, is kept.
		"fHTML": func(key string, pairs ...any) template.HTML {
			if !strings.HasSuffix(key, "HTML") {
				return template.HTML(template.HTMLEscapeString(key))
			}
			return template.HTML(loc.F(key, arguments(pairs, func(v any) any { return template.HTMLEscapeString(fmt.Sprint(v)) })))
		},
		// auditLog hands the audit-log partial its entries and the zone
		// of their times.
		"auditLog": func(entries []aistat.AuditEntry, zone *time.Location) AuditLog {
			return AuditLog{Entries: entries, Zone: zone}
		},
		// eventLabel names a security event in the page's language.
		"eventLabel": func(k aistat.EventKind) string {
			if key := "event." + string(k); loc.Has(key) {
				return loc.T(key)
			}
			return k.Label()
		},
		// timeZones are the zones the settings page suggests.
		"timeZones": func() []string { return suggestedTimeZones },
		// domain says one of the domain's messages, such as an audit
		// entry's detail ("2 sessions ended"), in the page's language.
		"domain": loc.Domain,
		// auditLabel names an admin's action in the page's language.
		"auditLabel": func(a aistat.AuditAction) string {
			if key := "audit." + string(a); loc.Has(key) {
				return loc.T(key)
			}
			return a.Label()
		},
		// summary is the error summary of a form (see newSummary).
		"summary": newSummary,
		// fieldSummary is the error summary of a form of one field.
		"fieldSummary": func(id, field, message string) ErrorSummary {
			return ErrorSummary{ID: id, Items: []SummaryItem{{Field: field, Message: message}}}
		},
		"roleOptions": func(selected aistat.Role) template.HTML {
			if html, ok := options[selected]; ok {
				return html
			}
			return options[""]
		},
	}
	parsed := make(map[string]*template.Template, len(pages))
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
		parsed[page] = tmpl
	}
	return parsed, nil
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
func renderRoleOptions(src string, loc *i18n.Localizer) (map[aistat.Role]template.HTML, error) {
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
			options[i] = option{Value: role, Label: loc.Role(role), Selected: role == selected}
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
func (t *Templates) execute(w io.Writer, locale aistat.Locale, page string, data any) error {
	pages, ok := t.pages[locale]
	if !ok {
		if locale != "" {
			return fmt.Errorf("templates: unknown language %q", locale)
		}
		pages = t.pages[t.def]
	}
	tmpl, ok := pages[page]
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

// arguments are a message's arguments from a template's name and value
// pairs, each value as value makes it.
func arguments(pairs []any, value func(any) any) map[string]any {
	data := make(map[string]any, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		if name, ok := pairs[i].(string); ok {
			data[name] = value(pairs[i+1])
		}
	}
	return data
}

// AuditLog is the data of the audit-log partial, which the admin page and
// the audit page share.
type AuditLog struct {
	Entries []aistat.AuditEntry
	Zone    *time.Location
}
