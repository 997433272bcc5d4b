package templates

import (
	"time"

	"aistat"
)

// PasskeysSection is the list of the user's passkeys and the form that adds
// one, the "passkeys" partial of the two-step page.
type PasskeysSection struct {
	// Available is false when the site's address cannot have passkeys:
	// browsers refuse them for a site named by an IP address.
	Available bool
	// Now is when the page is made, and Zone where its times are shown.
	Now      time.Time
	Zone     *time.Location
	Passkeys []aistat.Passkey
	// Caption names the list, with its count in the language's plural.
	Caption string
}
