package handlers

import "testing"

func TestLogPath(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/email/abc", "/email/[redacted]"},
		{"/EMAIL/abc", "/EMAIL/[redacted]"},
		{"/settings/email", "/settings/email"},
		{"/reset/abc", "/reset/[redacted]"},
		{"/reset/", "/reset/[redacted]"},
		{"/RESET/abc", "/RESET/[redacted]"},
		{"//reset//abc", "//reset/[redacted]"},
		{"/x/../reset/abc/def", "/x/../reset/[redacted]"},
		{"/reset", "/reset"},
		{"/admin/users/5/reset", "/admin/users/5/reset"},
		{"/admin", "/admin"},
		{"/", "/"},
	} {
		if got := logPath(tt.path); got != tt.want {
			t.Errorf("logPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
