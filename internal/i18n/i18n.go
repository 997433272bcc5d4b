// Package i18n is the site's message catalogue and the choice of a
// reader's language: the messages of every language the site speaks,
// embedded in the binary and checked at start-up, and the negotiation that
// picks one for a request.
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"aistat"
)

// messageFiles are messages/<code>.json for each of aistat.Locales: the
// languages are the domain's, since what a user may choose in their
// profile is what the catalogue must speak.
//
//go:embed messages/*.json
var messageFiles embed.FS

// pluralForms are the CLDR plural forms each language's counted messages
// must all have (CLDR's cardinal rules for integers: 1 сеанс, 2 сеанса,
// 5 сеансов, and "other" for fractions).
var pluralForms = map[aistat.Locale][]string{
	aistat.LocaleRussian: {"one", "few", "many", "other"},
	aistat.LocaleEnglish: {"one", "other"},
}

// Catalogue holds every message in every language.
type Catalogue struct {
	localizers map[aistat.Locale]*Localizer
	matcher    language.Matcher
	keys       []string

	// matches remembers the match of each Accept-Language header seen,
	// up to maxMatches of them: browsers send a handful of different
	// headers, and parsing one costs a request several allocations.
	matches  sync.Map // header → match
	nMatches atomic.Int32
}

// match is a remembered result of Match.
type match struct {
	locale aistat.Locale
	ok     bool
}

// maxMatches and maxMatchHeader bound what Match remembers, so that
// clients sending ever new headers cannot grow it.
const (
	maxMatches     = 512
	maxMatchHeader = 128
)

// New loads the embedded message files. It fails when a key is missing in
// any language, when a counted message lacks a plural form its language
// needs, or when a message is counted in one language and not in another:
// a page then cannot show a raw key for lack of a translation.
func New() (*Catalogue, error) {
	return load(messageFiles)
}

// load reads messages/<lang>.json of every language from fsys.
func load(fsys fs.FS) (*Catalogue, error) {
	bundle := goi18n.NewBundle(language.Russian)
	c := &Catalogue{localizers: make(map[aistat.Locale]*Localizer, len(aistat.Locales))}
	// kinds[lang][key] is what kind of message key is in lang.
	kinds := make(map[aistat.Locale]map[string]kind, len(aistat.Locales))
	tags := make([]language.Tag, len(aistat.Locales))
	for i, l := range aistat.Locales {
		tags[i] = language.MustParse(string(l))
		name := "messages/" + string(l) + ".json"
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		file, err := bundle.ParseMessageFileBytes(b, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", name, err)
		}
		kinds[l] = make(map[string]kind, len(file.Messages))
		static := make(map[string]string, len(file.Messages))
		for _, m := range file.Messages {
			k, err := checkForms(l, m)
			if err != nil {
				return nil, fmt.Errorf("i18n: %s: %w", name, err)
			}
			kinds[l][m.ID] = k
			if k == plain {
				static[m.ID] = m.Other
			}
		}
		roles := make(map[aistat.Role]string, len(aistat.Roles))
		for _, role := range aistat.Roles {
			label, ok := static["role."+string(role)]
			if !ok {
				return nil, fmt.Errorf("i18n: %s: no label %q of the role %s", name, "role."+string(role), role)
			}
			roles[role] = label
		}
		var months [12]string
		for i := range months {
			key := "month." + strconv.Itoa(i+1)
			if months[i] = static[key]; months[i] == "" {
				return nil, fmt.Errorf("i18n: %s: no month %q", name, key)
			}
		}
		c.localizers[l] = &Localizer{lang: l, static: static, roles: roles, months: months, loc: goi18n.NewLocalizer(bundle, string(l))}
	}
	first := aistat.Locales[0]
	c.keys = slices.Sorted(maps.Keys(kinds[first]))
	for _, l := range aistat.Locales[1:] {
		for _, key := range c.keys {
			k, ok := kinds[l][key]
			switch {
			case !ok:
				return nil, fmt.Errorf("i18n: %q is missing in %s", key, l)
			case k != kinds[first][key]:
				return nil, fmt.Errorf("i18n: %q is %s in %s but %s in %s", key, kinds[first][key], first, k, l)
			}
		}
		for key := range kinds[l] {
			if _, ok := kinds[first][key]; !ok {
				return nil, fmt.Errorf("i18n: %q is missing in %s", key, first)
			}
		}
	}
	formats, err := domainFormats(kinds[first])
	if err != nil {
		return nil, err
	}
	for _, l := range c.localizers {
		l.formats = formats
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// domainFormats are the domain's messages that the catalogue holds by
// their fmt format: a "domain:" key with a verb in it, whose message takes
// the verbs' values (a count among them when it is counted).
func domainFormats(kinds map[string]kind) ([]domainFormat, error) {
	var formats []domainFormat
	for _, key := range slices.Sorted(maps.Keys(kinds)) {
		format, ok := strings.CutPrefix(key, "domain:")
		if !ok || !fmtVerb.MatchString(format) {
			continue
		}
		if kinds[key] == plain {
			return nil, fmt.Errorf("i18n: %q is a format but its message takes no {{.Arg1}}", key)
		}
		pattern, err := formatPattern(format)
		if err != nil {
			return nil, fmt.Errorf("i18n: %q: %w", key, err)
		}
		formats = append(formats, domainFormat{key: key, pattern: pattern, counted: kinds[key] == counted})
	}
	return formats, nil
}

// kind is what a message needs to be said: nothing, arguments, or a count
// (and maybe arguments). Each key is of one kind in every language.
type kind int

const (
	plain kind = iota
	withArguments
	counted
)

func (k kind) String() string {
	return [...]string{"plain", "with arguments", "counted"}[k]
}

// checkForms tells m's kind, and fails when m is counted without every
// plural form l needs, or with a form l never uses.
func checkForms(l aistat.Locale, m *goi18n.Message) (kind, error) {
	// In CLDR's order, so that an error names the same form every time.
	forms := []struct{ form, text string }{
		{"zero", m.Zero}, {"one", m.One}, {"two", m.Two}, {"few", m.Few}, {"many", m.Many}, {"other", m.Other},
	}
	isCounted := false
	for _, f := range forms {
		if f.text != "" && f.form != "other" {
			isCounted = true
		}
	}
	if !isCounted {
		if m.Other == "" {
			return plain, fmt.Errorf("%q is empty", m.ID)
		}
		if strings.Contains(m.Other, "{{") {
			// Executed per call (F); the plain ones are resolved once and
			// never parsed as templates.
			return withArguments, nil
		}
		return plain, nil
	}
	need := pluralForms[l]
	for _, f := range forms {
		if slices.Contains(need, f.form) != (f.text != "") {
			if f.text == "" {
				return counted, fmt.Errorf("%q lacks the plural form %q", m.ID, f.form)
			}
			return counted, fmt.Errorf("%q has the plural form %q, which %s does not use", m.ID, f.form, l)
		}
	}
	return counted, nil
}

// Keys lists every message key, sorted.
func (c *Catalogue) Keys() []string { return slices.Clone(c.keys) }

// Localizer returns the messages of l, shared by every request in l; nil
// for a language the site does not speak.
func (c *Catalogue) Localizer(l aistat.Locale) *Localizer { return c.localizers[l] }

// Choose picks the reader's language: the signed-in user's choice (profile,
// "" when none), else the visitor's from the language switch (cookie, as
// stored, "" when none), else the best match of the browser's
// Accept-Language header among the languages the site speaks, else def.
// Choices that are not a language of the site are passed over.
func (c *Catalogue) Choose(profile, cookie, acceptLanguage string, def aistat.Locale) aistat.Locale {
	if l, ok := aistat.ParseLocale(profile); ok {
		return l
	}
	if l, ok := aistat.ParseLocale(cookie); ok {
		return l
	}
	if l, ok := c.Match(acceptLanguage); ok {
		return l
	}
	return def
}

// Match returns the language of the site that best matches an
// Accept-Language header (q weights honoured: "de, en;q=0.5" is English),
// false when none does ("de" alone) or the header does not parse.
func (c *Catalogue) Match(acceptLanguage string) (aistat.Locale, bool) {
	if acceptLanguage == "" {
		return "", false
	}
	if m, ok := c.matches.Load(acceptLanguage); ok {
		return m.(match).locale, m.(match).ok
	}
	locale, ok := c.match(acceptLanguage)
	if len(acceptLanguage) <= maxMatchHeader && c.nMatches.Load() < maxMatches {
		if _, loaded := c.matches.LoadOrStore(acceptLanguage, match{locale, ok}); !loaded {
			c.nMatches.Add(1)
		}
	}
	return locale, ok
}

// match is Match without the memory.
func (c *Catalogue) match(acceptLanguage string) (aistat.Locale, bool) {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "", false
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return "", false
	}
	return aistat.Locales[i], true
}

// Localizer is the messages of one language.
type Localizer struct {
	lang aistat.Locale
	// static are the messages without arguments, resolved once.
	static map[string]string
	// roles are the roles' labels (role.admin, …), by role.
	roles map[aistat.Role]string
	// months are the months' short names as a date says them (month.1, …:
	// "нояб." in "27 нояб. 2026").
	months [12]string
	// formats are the domain's messages made by fmt, by their format.
	formats []domainFormat
	loc     *goi18n.Localizer
}

// Role is the role's label, "Администратор" for admin in Russian; the
// role's own code for a role the site does not know.
func (l *Localizer) Role(r aistat.Role) string {
	if label, ok := l.roles[r]; ok {
		return label
	}
	return string(r)
}

// Lang is the localizer's language.
func (l *Localizer) Lang() aistat.Locale { return l.lang }

// T returns the message of key, which takes no count. A key the catalogue does
// not have comes back as it is, for tests to find on the page.
func (l *Localizer) T(key string) string {
	if m, ok := l.static[key]; ok {
		return m
	}
	return key
}

// Has reports whether key is a message that takes no count.
func (l *Localizer) Has(key string) bool {
	_, ok := l.static[key]
	return ok
}

// N returns the counted message of key in the plural form n needs, with n in
// place of {{.PluralCount}}: "5 сеансов". A key that is not a counted
// message comes back as it is.
func (l *Localizer) N(key string, n int) string {
	m, err := l.loc.Localize(&goi18n.LocalizeConfig{MessageID: key, PluralCount: n})
	if err != nil {
		return key
	}
	return m
}

// F returns the message of key with data's values in place of its
// {{.Name}}s: "Сара Чен теперь Читатель.". A count, when the message is
// counted, is data's PluralCount. A key it cannot say comes back as it is.
func (l *Localizer) F(key string, data map[string]any) string {
	lc := &goi18n.LocalizeConfig{MessageID: key, TemplateData: data}
	if n, ok := data["PluralCount"]; ok {
		lc.PluralCount = n
	}
	m, err := l.loc.Localize(lc)
	if err != nil {
		return key
	}
	return m
}

// Domain says one of the domain's messages (an error, a field's rule),
// which are English, in the localizer's language: the catalogue holds
// them under "domain:" and their English text, or the fmt format that
// made it ("domain:Unknown field %q."), whose values the message then
// gives to the translation as {{.Arg1}}, {{.Arg2}}, …, each said in the
// language too when it is a message; a counted one takes Arg1 as its
// count. A message it does not hold stays English.
func (l *Localizer) Domain(msg string) string {
	if m, ok := l.static["domain:"+msg]; ok {
		return m
	}
	for _, f := range l.formats {
		args := f.pattern.FindStringSubmatch(msg)
		if args == nil {
			continue
		}
		data := make(map[string]any, len(args))
		// A value may be a message itself: "Viewer → Admin" is said with
		// the roles' names in the reader's language.
		for i, arg := range args[1:] {
			data["Arg"+strconv.Itoa(i+1)] = l.Domain(arg)
		}
		lc := &goi18n.LocalizeConfig{MessageID: f.key, TemplateData: data}
		if f.counted {
			n, err := strconv.Atoi(data["Arg1"].(string))
			if err != nil {
				return msg
			}
			lc.PluralCount = n
		}
		if m, err := l.loc.Localize(lc); err == nil {
			return m
		}
		return msg
	}
	return msg
}

// domainFormat is a domain message made by fmt, as the catalogue knows it.
type domainFormat struct {
	key     string
	pattern *regexp.Regexp
	counted bool
}

// fmtVerb is a verb of a fmt format, such as %q or %04X.
var fmtVerb = regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]+)?[a-zA-Z%]`)

// formatPattern is the regular expression that matches what format makes,
// with a group for each verb's value.
func formatPattern(format string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range fmtVerb.FindAllStringIndex(format, -1) {
		b.WriteString(regexp.QuoteMeta(format[last:loc[0]]))
		last = loc[1]
		switch verb := format[loc[1]-1]; verb {
		case 'd':
			b.WriteString(`(-?[0-9]+)`)
		case 'x', 'X':
			b.WriteString(`([0-9A-Fa-f]+)`)
		case 'q':
			b.WriteString(`("(?:[^"\\]|\\.)*")`)
		case 's', 'v':
			b.WriteString(`(.+?)`)
		default:
			return nil, fmt.Errorf("the verb %q cannot be read back", format[loc[0]:loc[1]])
		}
	}
	b.WriteString(regexp.QuoteMeta(format[last:]))
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// DomainFields is Domain for each message of a field error map, in a new
// map; nil stays nil.
func (l *Localizer) DomainFields(fields map[string]string) map[string]string {
	if fields == nil {
		return nil
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = l.Domain(v)
	}
	return out
}
