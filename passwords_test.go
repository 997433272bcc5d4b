package aistat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCommonPasswords checks the shipped list: big enough to matter, and
// only entries the length rule lets through.
func TestCommonPasswords(t *testing.T) {
	if n := len(commonPasswords); n < 10_000 {
		t.Fatalf("%d common passwords, want at least 10,000", n)
	}
	for p := range commonPasswords {
		if n := utf8.RuneCountInString(p); n < MinPasswordLength || n > MaxPasswordLength || p != strings.ToLower(p) {
			t.Fatalf("entry %q: want 10 to 256 characters, lower case", p)
		}
	}
	for _, p := range []string{"1qaz2wsx3edc4rfv", "QWERTYUIOP", "Password123", "iloveyou12", "manchester"} {
		if ValidatePassword(p, "") == nil {
			t.Errorf("ValidatePassword(%q) accepted a common password", p)
		}
	}
	for _, p := range []string{"correct horse battery", "a much better passphrase", strings.Repeat("z", 72), strings.Repeat("z", 256)} {
		if err := ValidatePassword(p, ""); err != nil {
			t.Errorf("ValidatePassword(%q) = %v", p, err)
		}
	}
}

// TestPasswordRule is the rule's edges: length in characters, not bytes, so
// a passphrase of emoji is as long as one of letters; the account's email
// refused in any case.
func TestPasswordRule(t *testing.T) {
	emoji := strings.Repeat("\U0001F600", MaxPasswordLength) // 4 bytes each
	tests := []struct {
		name, password, email string
		want                  string // part of the message, "" when accepted
	}{
		{"Emoji256", emoji, "", ""},
		{"Emoji257", emoji + "\U0001F600", "", "at most 256 characters"},
		{"Letters257", strings.Repeat("я", 257), "", "at most 256 characters"},
		{"TenCyrillic", strings.Repeat("я", 10), "", ""},
		{"NineCharacters", "abcdefghi", "", "at least 10 characters"},
		{"FiveEmojiAre20Bytes", strings.Repeat("\U0001F600", 5), "", "at least 10 characters"},
		{"InvalidUTF8", "abcdefghij\xff", "", "valid UTF-8"},
		{"TheEmail", "grace.hopper@example.com", "grace.hopper@example.com", "not be your email"},
		{"TheEmailInCapitals", "GRACE.Hopper@Example.COM", "grace.hopper@example.com", "not be your email"},
		{"TheEmailWithSpaces", " grace.hopper@example.com ", "grace.hopper@example.com", "not be your email"},
		{"AnotherEmail", "ada.lovelace@example.com", "grace.hopper@example.com", ""},
		{"Common", "Password123", "", "too common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkPassword(tt.password, tt.email)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("checkPassword = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestArgon2Hash is the stored format and what verifies against it.
func TestArgon2Hash(t *testing.T) {
	p := HashParams{Memory: 64, Time: 1, Threads: 1}
	h := newArgon2Hash("correct horse battery", p).String()
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(h, "$") != 5 || strings.Contains(h, "=") && strings.Count(h, "=") != 4 {
		t.Fatalf("hash %q is not in the PHC string format", h)
	}
	if again := newArgon2Hash("correct horse battery", p).String(); again == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if !verifyPassword(h, "correct horse battery") || verifyPassword(h, "correct horse batterY") {
		t.Fatal("verify does not tell the password from another")
	}
	if needsRehash(h, p) || !needsRehash(h, DefaultHashParams) {
		t.Fatal("needsRehash is wrong about the costs")
	}
	if def := newArgon2Hash("x", DefaultHashParams).String(); !strings.HasPrefix(def, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q, want OWASP's costs", def)
	}
	parts := strings.Split(h, "$")
	for _, bad := range []string{
		"", "-", "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4194304,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=0,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
	} {
		if verifyPassword(bad, "correct horse battery") {
			t.Errorf("verifyPassword(%q) matched", bad)
		}
	}
}

// TestUsers_HashSlots: with every slot taken a hash waits, and gives up
// when its request ends, rather than add its memory to the others'.
func TestUsers_HashSlots(t *testing.T) {
	s := NewUsers(nil)
	s.SetHashParams(MinHashParams)
	for range cap(s.hashSlots) {
		s.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.matches(ctx, "", "correct horse battery")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a hash ran with every slot taken (%v)", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("matches = %v, want context.Canceled", err)
	}
	<-s.hashSlots
	if _, err := s.hash(t.Context(), "correct horse battery"); err != nil {
		t.Fatalf("hash with a free slot: %v", err)
	}
	if n := len(s.hashSlots); n != cap(s.hashSlots)-1 {
		t.Fatalf("%d slots taken after the hash, want %d", n, cap(s.hashSlots)-1)
	}
}
