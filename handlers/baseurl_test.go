package handlers_test

import (
	"testing"

	"aistat/handlers"
)

func TestParseBaseURL(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"https://ai-stat.ru", "https://ai-stat.ru"},
		{"https://ai-stat.ru/", "https://ai-stat.ru"},
		{"HTTPS://ai-stat.ru", "https://ai-stat.ru"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
		{"https://ai-stat.ru:", "https://ai-stat.ru"},
	} {
		got, err := handlers.ParseBaseURL(tt.raw)
		if err != nil || got != tt.want {
			t.Errorf("ParseBaseURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
	for _, raw := range []string{
		"", "ai-stat.ru", "//ai-stat.ru", "/reset", "ftp://ai-stat.ru", "javascript:alert(1)",
		"https://", "https:///path", "https://:443", "https:ai-stat.ru",
		"https://user:secret@ai-stat.ru", "https://ai-stat.ru?x=1", "https://ai-stat.ru/?", "https://ai-stat.ru#top", "https://ai-stat.ru/#",
		"https://ai-stat.ru/aistat", "https://ai-stat.ru:port", "https://ai stat.ru", "https://ai-stat.ru\n",
	} {
		if got, err := handlers.ParseBaseURL(raw); err == nil {
			t.Errorf("ParseBaseURL(%q) = %q, want an error", raw, got)
		}
	}
}

// TestNewNeedsBaseURL: a server without its public URL could only build
// links from the request, which the client chooses.
func TestNewNeedsBaseURL(t *testing.T) {
	for _, raw := range []string{"", "evil.test", "https://ai-stat.ru?next=x"} {
		if _, err := handlers.New(handlers.Config{BaseURL: raw}); err == nil {
			t.Errorf("New with base URL %q succeeded", raw)
		}
	}
}
