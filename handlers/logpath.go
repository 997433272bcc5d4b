package handlers

import "strings"

// logPath is a request path as logs may show it. Whatever follows a "reset"
// segment is left out: a reset link's token lets anyone set a password, and
// the router also answers paths that reach the route in other spellings
// (letter case, extra slashes) with a redirect.
func logPath(path string) string {
	segments := strings.Split(path, "/")
	for i, seg := range segments[:len(segments)-1] {
		if strings.EqualFold(seg, "reset") {
			return strings.Join(segments[:i+1], "/") + "/[redacted]"
		}
	}
	return path
}
