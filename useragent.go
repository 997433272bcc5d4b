package aistat

import (
	"strings"
)

// Device is what a User-Agent header tells a person about the browser and
// the system a session was opened from, such as "Firefox 128" on "Linux".
type Device struct {
	Browser string
	System  string
}

// String is the device as one phrase: "Chrome 120 on Windows".
func (d Device) String() string { return d.Browser + " on " + d.System }

// Names for a User-Agent that says nothing recognisable.
const (
	UnknownBrowser = "Unknown browser"
	UnknownSystem  = "Unknown system"
)

// browserTokens are the product tokens that name a browser, most specific
// first: nearly every browser also claims to be Safari, Chromium-based ones
// claim Chrome, and the iOS browsers have tokens of their own.
var browserTokens = []struct{ token, name string }{
	{"EdgiOS/", "Edge"},
	{"EdgA/", "Edge"},
	{"Edg/", "Edge"},
	{"Edge/", "Edge"},
	{"OPiOS/", "Opera"},
	{"OPR/", "Opera"},
	{"Opera/", "Opera"},
	{"YaBrowser/", "Yandex Browser"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"FxiOS/", "Firefox"},
	{"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"Chrome/", "Chrome"},
	{"Chromium/", "Chrome"},
}

// systemTokens name an operating system, most specific first: iOS and
// Android browsers also say "like Mac OS X" and "Linux".
var systemTokens = []struct{ token, name string }{
	{"Windows", "Windows"},
	{"iPhone", "iOS"},
	{"iPad", "iOS"},
	{"iPod", "iOS"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Macintosh", "macOS"},
	{"Mac OS X", "macOS"},
	{"Linux", "Linux"},
	{"X11", "Linux"},
}

// maxVersionDigits bounds the major version taken from a header, so that a
// forged header cannot make the description long.
const maxVersionDigits = 4

// ParseUserAgent names the browser, with its major version when the header
// gives one, and the system of a User-Agent header. It knows the common
// browsers and systems; anything else is UnknownBrowser or UnknownSystem.
func ParseUserAgent(ua string) Device {
	d := Device{Browser: UnknownBrowser, System: UnknownSystem}
	for _, b := range browserTokens {
		if i := strings.Index(ua, b.token); i >= 0 {
			d.Browser = withVersion(b.name, ua[i+len(b.token):])
			break
		}
	}
	if d.Browser == UnknownBrowser && strings.Contains(ua, "Safari/") && strings.Contains(ua, "AppleWebKit/") {
		// Safari's own version is in Version/; its Safari/ token carries
		// the WebKit build.
		version := ""
		if i := strings.Index(ua, "Version/"); i >= 0 {
			version = ua[i+len("Version/"):]
		}
		d.Browser = withVersion("Safari", version)
	}
	for _, s := range systemTokens {
		if strings.Contains(ua, s.token) {
			d.System = s.name
			break
		}
	}
	return d
}

// withVersion appends the major version at the start of rest (the text after
// a product token's slash), when there is one.
func withVersion(name, rest string) string {
	n := 0
	for n < len(rest) && n < maxVersionDigits && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n < len(rest) && rest[n] >= '0' && rest[n] <= '9') {
		return name
	}
	return name + " " + rest[:n]
}
