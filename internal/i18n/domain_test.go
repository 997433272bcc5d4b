package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"aistat"
)

// domainSources are the packages whose messages reach readers through
// Localizer.Domain: the domain's errors and rules, and the handlers' own
// refusals of a request.
var domainSources = []string{"../..", "../../handlers"}

// literals are the string literals of the packages in dirs, with where
// each is; sentences are those that read as a sentence for a person (a
// capital, a space, a full stop). The help texts of metrics (metrics.go,
// Help fields) are for operators and stay English.
func literals(t *testing.T, dirs []string) (all, sentences map[string]string) {
	t.Helper()
	all, sentences = make(map[string]string), make(map[string]string)
	fset := token.NewFileSet()
	for _, dir := range dirs {
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go") && fi.Name() != "metrics.go"
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkg := range pkgs {
			for _, file := range pkg.Files {
				ast.Inspect(file, func(n ast.Node) bool {
					if kv, ok := n.(*ast.KeyValueExpr); ok {
						if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Help" {
							return false
						}
					}
					lit, ok := n.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						return true
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
					}
					pos := fset.Position(lit.Pos()).String()
					all[s] = pos
					first, _ := utf8.DecodeRuneInString(s)
					if unicode.IsUpper(first) && strings.Contains(s, " ") && strings.HasSuffix(s, ".") {
						sentences[s] = pos
					}
					return true
				})
			}
		}
	}
	return all, sentences
}

// TestDomain_EveryMessageInCatalogue fails when a message of the domain or
// the handlers has no translation (it would reach a Russian page in
// English), and when the catalogue keeps a translation of a message that
// no longer exists. Phrases that are not sentences (the audit log's
// details, the roles' names) need a translation too, which the test of
// their formats shows.
func TestDomain_EveryMessageInCatalogue(t *testing.T) {
	c := newCatalogue(t)
	all, messages := literals(t, domainSources)
	if len(messages) < 50 {
		t.Fatalf("found %d messages in %v: the sources moved?", len(messages), domainSources)
	}
	keys := c.Keys()
	for msg, pos := range messages {
		if !slices.Contains(keys, "domain:"+msg) {
			t.Errorf("%s: %q has no translation (key %q)", pos, msg, "domain:"+msg)
		}
	}
	for _, key := range keys {
		if msg, ok := strings.CutPrefix(key, "domain:"); ok {
			if _, used := all[msg]; !used {
				t.Errorf("the catalogue translates %q, which nothing says any more", msg)
			}
		}
	}
}

// TestDomain_Formats: a message made by fmt is said with its values in
// the reader's language, in the plural form its count needs.
func TestDomain_Formats(t *testing.T) {
	c := newCatalogue(t)
	ru, en := c.Localizer(aistat.LocaleRussian), c.Localizer(aistat.LocaleEnglish)
	for _, tc := range []struct {
		loc       *Localizer
		msg, want string
	}{
		{ru, `Unknown field "nmae".`, `Неизвестное поле "nmae".`},
		{en, `Unknown field "nmae".`, `Unknown field "nmae".`},
		{ru, "Name must not contain invisible or direction-changing characters (it has U+202E).", "Имя не должно содержать невидимых символов и символов, меняющих направление текста (здесь U+202E)."},
		{ru, "Too many failed attempts. Try again in 1 minute.", "Слишком много неудачных попыток. Попробуйте снова через 1 минуту."},
		{ru, "Too many failed attempts. Try again in 3 minutes.", "Слишком много неудачных попыток. Попробуйте снова через 3 минуты."},
		{ru, "Too many failed attempts. Try again in 15 minutes.", "Слишком много неудачных попыток. Попробуйте снова через 15 минут."},
		{ru, "Too many failed attempts. Try again in 21 minutes.", "Слишком много неудачных попыток. Попробуйте снова через 21 минуту."},
		{en, "Too many failed attempts. Try again in 1 minute.", "Too many failed attempts. Try again in 1 minute."},
		{en, "Too many failed attempts. Try again in 2 minutes.", "Too many failed attempts. Try again in 2 minutes."},
		{ru, "Password must be at least 12 characters.", "Пароль должен быть не короче 12 символов."},
		{ru, "Something the catalogue never heard of.", "Something the catalogue never heard of."},
		// The audit log's details, values translated in turn.
		{ru, "Viewer → Admin", "Читатель → Администратор"},
		{ru, "Editor", "Редактор"},
		{ru, "1 session ended", "1 сеанс завершён"},
		{ru, "5 sessions ended, reset link cancelled", "5 сеансов завершено, ссылка для сброса пароля отменена"},
		{ru, "2 sessions ended, 3 reset links cancelled", "2 сеанса завершены, 3 ссылки для сброса пароля отменены"},
		{en, "2 sessions ended, 3 reset links cancelled", "2 sessions ended, 3 reset links cancelled"},
		{ru, "valid for 60 minutes", "действует 60 минут"},
	} {
		if got := tc.loc.Domain(tc.msg); got != tc.want {
			t.Errorf("%s: Domain(%q) = %q, want %q", tc.loc.Lang(), tc.msg, got, tc.want)
		}
	}
}

// TestDomain_FormatPattern: what a format made is read back, verb by verb,
// and nothing else matches.
func TestDomain_FormatPattern(t *testing.T) {
	for _, tc := range []struct {
		format, msg string
		want        []string
	}{
		{"Unknown field %q.", `Unknown field "a\"b".`, []string{`"a\"b"`}},
		{"It has U+%04X.", "It has U+00AD.", []string{"00AD"}},
		{"Try again in %d %s.", "Try again in 5 minutes.", []string{"5", "minutes"}},
		{"Search must be at most %d characters.", "Search must be at most x characters.", nil},
		{"A (literal) [regexp] %d.", "A (literal) [regexp] 7.", []string{"7"}},
		{"A (literal) [regexp] %d.", "A literal regexp 7.", nil},
	} {
		re, err := formatPattern(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		got := re.FindStringSubmatch(tc.msg)
		if got != nil {
			got = got[1:]
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q on %q: %q, want %q", tc.format, tc.msg, got, tc.want)
		}
	}
	if _, err := formatPattern("%.2f done."); err == nil {
		t.Error("a float verb, which cannot be read back exactly, was accepted")
	}
}
