package aistat_test

import (
	"context"
	"testing"

	"aistat"
	"aistat/internal/webauthntest"
)

const passkeyOrigin = "http://localhost:8080"

// mustRegisterPasskey gives u a passkey of a new software authenticator.
func mustRegisterPasskey(t *testing.T, p *aistat.Passkeys, u *aistat.User, name string) *webauthntest.Authenticator {
	t.Helper()
	ctx := context.Background()
	options, err := p.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	auth := webauthntest.New(passkeyOrigin)
	cred, err := auth.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, u, name, cred, aistat.Client{}); err != nil {
		t.Fatalf("register passkey: %v", err)
	}
	return auth
}

// stepAnswer begins u's second step and has auth answer it.
func stepAnswer(t *testing.T, p *aistat.Passkeys, u *aistat.User, auth *webauthntest.Authenticator) []byte {
	t.Helper()
	options, err := p.BeginStep(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := auth.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// TestPasskeys_Step: a passkey as the second step after the password is
// good for its own user only, once per challenge, and only while its
// counter goes forward; HasPasskey counts the passkeys that can be used.
func TestPasskeys_Step(t *testing.T) {
	ctx := context.Background()
	db, users := mustOpenUsers(t)
	p, err := aistat.NewPasskeys(users, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	alice := mustCreate(t, users, "alice@example.com", "correct horse battery")
	bob := mustCreate(t, users, "bob@example.com", "correct horse battery")
	if has, err := p.HasPasskey(ctx, alice.ID); err != nil || has {
		t.Fatalf("HasPasskey before any = %v, %v; want false", has, err)
	}
	aliceKey := mustRegisterPasskey(t, p, alice, "Alice's")
	bobKey := mustRegisterPasskey(t, p, bob, "Bob's")
	if has, err := p.HasPasskey(ctx, alice.ID); err != nil || !has {
		t.Fatalf("HasPasskey = %v, %v; want true", has, err)
	}

	t.Run("OK", func(t *testing.T) {
		if err := p.VerifyStep(ctx, alice, stepAnswer(t, p, alice, aliceKey), aistat.Client{}); err != nil {
			t.Fatalf("VerifyStep: %v", err)
		}
	})

	t.Run("Reused", func(t *testing.T) {
		answer := stepAnswer(t, p, alice, aliceKey)
		if err := p.VerifyStep(ctx, alice, answer, aistat.Client{}); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyStep(ctx, alice, answer, aistat.Client{}); aistat.ErrorCode(err) != aistat.EINVALID {
			t.Fatalf("a reused challenge: %v, want EINVALID", err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		answer := stepAnswer(t, p, alice, aliceKey)
		if _, err := db.Exec(`UPDATE passkey_challenges SET expires_at = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyStep(ctx, alice, answer, aistat.Client{}); aistat.ErrorCode(err) != aistat.EINVALID {
			t.Fatalf("an expired challenge: %v, want EINVALID", err)
		}
	})

	t.Run("AnotherUsersPasskey", func(t *testing.T) {
		// Bob's passkey answering Alice's challenge: refused as not hers,
		// before any signature is checked.
		err := p.VerifyStep(ctx, alice, stepAnswer(t, p, alice, bobKey), aistat.Client{})
		if got, want := aistat.ErrorMessage(err), "This passkey is not registered for this account."; got != want {
			t.Fatalf("another user's passkey: %v, want %q", err, want)
		}
		// Bob's answer to his own challenge, given as Alice's step: no
		// challenge of hers.
		if err := p.VerifyStep(ctx, alice, stepAnswer(t, p, bob, bobKey), aistat.Client{}); aistat.ErrorCode(err) != aistat.EINVALID {
			t.Fatalf("another user's challenge: %v, want EINVALID", err)
		}
	})

	t.Run("NobodysPasskey", func(t *testing.T) {
		stranger := webauthntest.New(passkeyOrigin)
		options, err := p.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stranger.Create(options); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyStep(ctx, alice, stepAnswer(t, p, alice, stranger), aistat.Client{}); aistat.ErrorCode(err) != aistat.EUNAUTHORIZED {
			t.Fatalf("nobody's passkey: %v, want EUNAUTHORIZED", err)
		}
	})

	t.Run("CounterBackwards", func(t *testing.T) {
		copied := aliceKey.Clone()
		if err := p.VerifyStep(ctx, alice, stepAnswer(t, p, alice, aliceKey), aistat.Client{}); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyStep(ctx, alice, stepAnswer(t, p, alice, copied), aistat.Client{}); aistat.ErrorCode(err) != aistat.EFORBIDDEN {
			t.Fatalf("a copied passkey: %v, want EFORBIDDEN", err)
		}
		list, err := p.Passkeys(ctx, alice.ID)
		if err != nil || len(list) != 1 || !list[0].Cloned {
			t.Fatalf("passkeys after a copy was used: %+v, %v; want one, disabled", list, err)
		}
		if has, err := p.HasPasskey(ctx, alice.ID); err != nil || has {
			t.Fatalf("HasPasskey with the only passkey disabled = %v, %v; want false", has, err)
		}
		// Nothing left to ask for.
		if _, err := p.BeginStep(ctx, alice); aistat.ErrorCode(err) != aistat.ENOTFOUND {
			t.Fatalf("BeginStep without a usable passkey: %v, want ENOTFOUND", err)
		}
	})
}

// TestNewPasskeys_IPAddress: browsers refuse passkeys for a site named by
// an IP address, and so does NewPasskeys.
func TestNewPasskeys_IPAddress(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8080", "http://[::1]:8080"} {
		if _, err := aistat.NewPasskeys(nil, base); err == nil {
			t.Errorf("NewPasskeys(%q) accepted an IP address", base)
		}
	}
	if _, err := aistat.NewPasskeys(nil, "https://ai-stat.ru"); err != nil {
		t.Errorf("NewPasskeys(https://ai-stat.ru): %v", err)
	}
}

// TestPasskeys_ChallengesCleanedUp: the cleanup deletes the challenges
// that can no longer be answered, and keeps the others.
func TestPasskeys_ChallengesCleanedUp(t *testing.T) {
	ctx := context.Background()
	db, users := mustOpenUsers(t)
	p, err := aistat.NewPasskeys(users, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := p.BeginSignIn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE passkey_challenges SET expires_at = now() - interval '1 second'
		WHERE challenge IN (SELECT challenge FROM passkey_challenges LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	if _, err := users.DeleteExpired(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM passkey_challenges`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d challenges left (%v), want the 1 that can still be answered", left, err)
	}
}
