package aistat

import "context"

// Pauser stops the clock of a deadline while its request does work that
// waits on no database: password hashing is slow on purpose, and slower
// still on a busy machine, so a deadline meant for database work must not
// count it.
type Pauser interface {
	// Pause stops the clock and returns the function that restarts it.
	Pause() (resume func())
}

type pauserKey struct{}

// WithPauser returns ctx carrying p, which slow work in this package pauses.
func WithPauser(ctx context.Context, p Pauser) context.Context {
	return context.WithValue(ctx, pauserKey{}, p)
}

// slowWork runs fn with the context's deadline clock, if any, paused.
func slowWork(ctx context.Context, fn func()) {
	if p, ok := ctx.Value(pauserKey{}).(Pauser); ok {
		defer p.Pause()()
	}
	fn()
}
