package handlers

import "strings"

// logPath is a request path as logs may show it. Whatever follows a "reset"
// or an "email" segment is left out: a reset link's token lets anyone set a
// password, an email link's makes an address the account's, and the router
// also answers paths that reach the route in other spellings (letter case,
// extra slashes) with a redirect.
func logPath(path string) string {
	segments := strings.Split(path, "/")
	for i, seg := range segments[:len(segments)-1] {
		if strings.EqualFold(seg, "reset") || strings.EqualFold(seg, "email") {
			return strings.Join(segments[:i+1], "/") + "/[redacted]"
		}
	}
	return path
}
