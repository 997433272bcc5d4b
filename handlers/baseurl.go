package handlers

import (
	"errors"
	"net/url"
	"strings"
)

// ParseBaseURL checks the site's public URL (--base-url) and returns it as
// the site builds its absolute links from it: scheme and host, lower-case
// scheme, no trailing slash. It must be an absolute http or https URL with a
// host, and nothing else: no user name or password, query or fragment,
// which would end up inside every link, and no path, since the site's own
// pages and redirects live at the root of their host.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("not a URL such as https://ai-stat.ru")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("must start with http:// or https://")
	case u.Opaque != "" || u.Hostname() == "":
		return "", errors.New("must name a host, as in https://ai-stat.ru")
	case u.User != nil:
		return "", errors.New("must not hold a user name or password")
	case strings.ContainsAny(raw, "?#"):
		// Checked on the text: url.Parse keeps no trace of a bare "?" or
		// "#", and in a path either would have been escaped.
		return "", errors.New("must not have a query (?) or fragment (#)")
	case u.Path != "" && u.Path != "/":
		return "", errors.New("must not have a path: the site is served at the root of its host")
	}
	// An empty port ("host:") means the scheme's own.
	return u.Scheme + "://" + strings.TrimSuffix(u.Host, ":"), nil
}
