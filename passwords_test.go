package aistat

import (
	"strings"
	"testing"
)

// TestCommonPasswords checks the shipped list: big enough to matter, and
// only entries the length rule lets through.
func TestCommonPasswords(t *testing.T) {
	if n := len(commonPasswords); n < 10_000 {
		t.Fatalf("%d common passwords, want at least 10,000", n)
	}
	for p := range commonPasswords {
		if len(p) < MinPasswordLength || len(p) > MaxPasswordLength || p != strings.ToLower(p) {
			t.Fatalf("entry %q: want 10 to 72 bytes, lower case", p)
		}
	}
	for _, p := range []string{"1qaz2wsx3edc4rfv", "QWERTYUIOP", "Password123", "iloveyou12", "manchester"} {
		if ValidatePassword(p) == nil {
			t.Errorf("ValidatePassword(%q) accepted a common password", p)
		}
	}
	for _, p := range []string{"correct horse battery", "a much better passphrase", strings.Repeat("z", 72)} {
		if err := ValidatePassword(p); err != nil {
			t.Errorf("ValidatePassword(%q) = %v", p, err)
		}
	}
}
