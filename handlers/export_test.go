package handlers

import (
	"net/http"

	"aistat"
)

// PasskeyStep serves the second step with a passkey for whoever user
// names (the pending sign-in's user, in the site), as the sign-in's second
// step calls it: POST .../begin answers the options, POST .../finish
// answers 204 once the passkey verified.
func (s *Server) PasskeyStep(user func(*http.Request) *aistat.User) (begin, finish http.HandlerFunc) {
	return func(w http.ResponseWriter, r *http.Request) { s.beginPasskeyStep(w, r, user(r)) },
		func(w http.ResponseWriter, r *http.Request) {
			if s.verifyPasskeyStep(w, r, user(r)) {
				w.WriteHeader(http.StatusNoContent)
			}
		}
}
