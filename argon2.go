package aistat

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// HashParams are Argon2id's costs for new password hashes. A stored hash
// carries its own, so changing them never locks anyone out: an older hash
// is verified with what it says and replaced at the next sign-in.
type HashParams struct {
	// Memory is in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultHashParams are OWASP's recommendation for Argon2id: 19 MiB, two
// passes, one thread (about 20 to 40 ms a hash on one core).
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// MinHashParams are the cheapest parameters Argon2id accepts, for tests
// that sign people in by the hundred. Never for a site.
var MinHashParams = HashParams{Memory: 8, Time: 1, Threads: 1}

// Sizes of what an Argon2id hash stores.
const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on the parameters of a stored hash: a row with absurd ones (a
// damaged or hostile value) must not make one sign-in take gigabytes.
const (
	maxHashMemory  = 1 << 20 // KiB: 1 GiB
	maxHashTime    = 64
	maxHashThreads = 64
)

// argon2Prefix starts every hash this package writes.
const argon2Prefix = "$argon2id$"

// argon2Hash is a decoded hash in the PHC string format.
type argon2Hash struct {
	params HashParams
	salt   []byte
	key    []byte
}

// String is the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func (h argon2Hash) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2Prefix, argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// newArgon2Hash hashes password with a fresh random salt.
func newArgon2Hash(password string, p HashParams) argon2Hash {
	salt := make([]byte, argon2SaltLen)
	// crypto/rand never returns an error: it crashes the program instead.
	_, _ = rand.Read(salt)
	return argon2Hash{params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)}
}

// parseArgon2Hash decodes a stored hash in the PHC string format of
// Argon2id version 19 with parameters within bounds.
func parseArgon2Hash(s string) (argon2Hash, error) {
	var h argon2Hash
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, fmt.Errorf("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return h, fmt.Errorf("argon2id version %q", parts[2])
	}
	var p HashParams
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return h, fmt.Errorf("argon2id parameters %q", parts[3])
	}
	if p.Threads < 1 || p.Threads > maxHashThreads || p.Time < 1 || p.Time > maxHashTime ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory {
		return h, fmt.Errorf("argon2id parameters %q out of bounds", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return h, fmt.Errorf("argon2id salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return h, fmt.Errorf("argon2id key")
	}
	return argon2Hash{params: p, salt: salt, key: key}, nil
}

// verify reports whether password derives the hash's key, compared in
// constant time.
func (h argon2Hash) verify(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// isBcrypt reports a hash of the previous scheme, which still verifies and
// is replaced by Argon2id at the next sign-in.
func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// verifyPassword reports whether password is the one the stored hash was
// made from, for an Argon2id hash or an older bcrypt one; anything else
// (damaged, or a placeholder such as "-") matches nothing.
func verifyPassword(hash, password string) bool {
	if isBcrypt(hash) {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	h, err := parseArgon2Hash(hash)
	if err != nil {
		return false
	}
	return h.verify(password)
}

// needsRehash reports whether a stored hash is not Argon2id with p: a bcrypt
// hash, or one of other costs.
func needsRehash(hash string, p HashParams) bool {
	h, err := parseArgon2Hash(hash)
	return err == nil && h.params != p || isBcrypt(hash)
}
