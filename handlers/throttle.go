package handlers

import (
	"math"
	"net/http"
	"strconv"

	"aistat"
)

// setRetryAfter tells the client, in whole seconds rounded up, when it may
// try again after an error that says so (a throttled sign-in).
func setRetryAfter(w http.ResponseWriter, err error) {
	if d := aistat.ErrorRetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}
