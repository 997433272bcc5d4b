package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"aistat"
)

func FuzzDecodeStrings(f *testing.F) {
	for _, seed := range [][2]string{
		{"application/json", `{"name": "Ok", "avatarUrl": ""}`},
		{"application/json; charset=utf-8", `{"name": "Сара", "avatarUrl": "https://example.com/a.png"}`},
		{"application/json", `{"name": "Ok"}`},
		{"application/json", `{"name": null, "avatarUrl": 1}`},
		{"application/json", `{"name": "Ok", "avatarUrl": "", "role": "admin"}`},
		{"application/json", `{"name": "a", "name": "b", "avatarUrl": ""}`},
		{"application/json", `{"name": "Ok", "avatarUrl": ""} {}`},
		{"application/json", "{\"name\": \"a\xffb\", \"avatarUrl\": \"\"}"},
		{"application/json", `{"name": "a\u0000\ud800b", "avatarUrl": ""}`},
		{"application/json", `[]`},
		{"application/json", `null`},
		{"application/json", ``},
		{"text/plain", `{"name": "Ok", "avatarUrl": ""}`},
		{"application/json", `{"name": "` + strings.Repeat("a", 70<<10) + `", "avatarUrl": ""}`},
		{"application/json", strings.Repeat("[", 10000)},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPut, "/api/profile", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		values, err := decodeStrings(httptest.NewRecorder(), r, "name", "avatarUrl")
		if err != nil {
			var reqErr *requestError
			switch {
			case errors.As(err, &reqErr):
				if reqErr.status != 400 && reqErr.status != 413 && reqErr.status != 415 {
					t.Fatalf("status %d", reqErr.status)
				}
			case aistat.ErrorCode(err) == aistat.EINVALID:
				for k := range aistat.ErrorFields(err) {
					if k != "name" && k != "avatarUrl" {
						t.Fatalf("missing field %q is not one asked for", k)
					}
				}
			default:
				t.Fatalf("error %v is neither a request error nor EINVALID", err)
			}
			return
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		// Outside strings JSON allows only ASCII, so invalid UTF-8 in an
		// accepted body would be in a value: stored other than it was sent.
		if !utf8.ValidString(body) {
			t.Fatalf("accepted a body that is not valid UTF-8: %q", body)
		}
		if len(values) != 2 {
			t.Fatalf("values %v, want exactly name and avatarUrl", values)
		}
		for k, v := range values {
			if !utf8.ValidString(v) {
				t.Fatalf("value of %s is not valid UTF-8: %q", k, v)
			}
		}
		// What was decoded encodes back to an object that decodes the same.
		again, err := json.Marshal(values)
		if err != nil {
			t.Fatal(err)
		}
		r = httptest.NewRequest(http.MethodPut, "/api/profile", strings.NewReader(string(again)))
		r.Header.Set("Content-Type", "application/json")
		round, err := decodeStrings(httptest.NewRecorder(), r, "name", "avatarUrl")
		if err != nil || round["name"] != values["name"] || round["avatarUrl"] != values["avatarUrl"] {
			t.Fatalf("round trip of %s: %v, %v", again, round, err)
		}
	})
}

func FuzzLocalPath(f *testing.F) {
	for _, seed := range []string{
		"/settings", "/admin?x=1", "https://evil.example", "//evil.example", `/\evil.example`, "/\t/evil.example",
		"javascript:alert(1)", "", "settings", "/%2F%2Fevil.example", "/\r\nSet-Cookie: x=1", "/a\x00b", "/\xff",
		"/.//evil.example", "/..//evil.example", "/a/../..//evil.example", "/?next=//evil.example", "/#//evil",
		"/" + strings.Repeat("a", 3000), "/\u2028", "/\x7f", "/%0d%0a",
	} {
		f.Add(seed)
	}
	site, _ := url.Parse("https://site.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		switch {
		case got != "/" && got != next:
			t.Fatalf("localPath(%.200q) = %.200q: neither the input nor /", next, got)
		case !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`):
			t.Fatalf("localPath(%.200q) = %.200q: not a local path", next, got)
		case strings.ContainsAny(got, "\\\r\n\t\x00") || len(got) > maxLocalPath:
			t.Fatalf("localPath(%.200q) = %.200q: a backslash, control character or too long", next, got)
		}
		// Sent as a redirect, it stays on this site.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest(http.MethodPost, "/login", nil), got, http.StatusSeeOther)
		loc := rec.Header().Get("Location")
		if strings.ContainsAny(loc, "\r\n") {
			t.Fatalf("Location %q carries a line break", loc)
		}
		ref, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q does not parse: %v", loc, err)
		}
		if u := site.ResolveReference(ref); u.Host != site.Host || u.Scheme != site.Scheme {
			t.Fatalf("localPath(%.200q) = %.200q leads to %s", next, got, u)
		}
	})
}
