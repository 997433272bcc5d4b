// Package webauthntest is a software authenticator for tests: it answers
// the site's WebAuthn options as a platform authenticator with a P-256 key
// would, building the attestation ("none") and the assertions by the
// WebAuthn specification (§6.1 authenticator data, §6.5.4 attested
// credential data, §8.7 the none format) with crypto/ecdsa, so that tests
// drive the real ceremonies through the real router.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUserPresent  = 0x01
	flagUserVerified = 0x04
	flagAttested     = 0x40
)

// Authenticator holds one passkey, created by Create.
type Authenticator struct {
	// Origin is the page's origin the browser would put in client data.
	Origin string
	// Counter is the signature counter of the next answer, moved forward
	// by each; a test sets it back to play a copied passkey.
	Counter uint32

	key    *ecdsa.PrivateKey
	id     []byte
	handle []byte
	rpID   string
}

// New is an authenticator for pages of origin, holding no passkey yet.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, Counter: 1}
}

// ID is the passkey's credential id.
func (a *Authenticator) ID() []byte { return a.id }

// Clone is a copy of the authenticator with the same passkey and counter.
func (a *Authenticator) Clone() *Authenticator {
	c := *a
	return &c
}

var b64 = base64.RawURLEncoding

// creation is what Create reads of navigator.credentials.create's options.
type creation struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// Create answers registration options with a new passkey: the JSON a
// browser sends for a PublicKeyCredential of navigator.credentials.create.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creation
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user handle: %w", err)
	}
	if a.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	a.id = make([]byte, 16)
	_, _ = rand.Read(a.id)
	a.handle, a.rpID = handle, o.PublicKey.RP.ID
	clientData := a.clientData("webauthn.create", o.PublicKey.Challenge)
	auth := a.authData(flagUserPresent | flagUserVerified | flagAttested)
	a.Counter++
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(a.id)))
	auth = append(auth, a.id...)
	auth = append(auth, a.coseKey()...)
	// {"fmt": "none", "attStmt": {}, "authData": auth}
	att := []byte{0xa3}
	att = cborText(att, "fmt")
	att = cborText(att, "none")
	att = cborText(att, "attStmt")
	att = append(att, 0xa0)
	att = cborText(att, "authData")
	att = cborBytes(att, auth)
	return a.credential(clientData, map[string]any{
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"internal"},
	})
}

// request is what Get reads of navigator.credentials.get's options.
type request struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
	} `json:"publicKey"`
}

// Get answers sign-in options with the passkey: the JSON a browser sends
// for a PublicKeyCredential of navigator.credentials.get, signed with the
// current counter, which it then moves forward.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	if a.key == nil {
		return nil, errors.New("no passkey: call Create first")
	}
	var o request
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	clientData := a.clientData("webauthn.get", o.PublicKey.Challenge)
	auth := a.authData(flagUserPresent | flagUserVerified)
	a.Counter++
	hash := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte{}, auth...), hash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, signed[:])
	if err != nil {
		return nil, err
	}
	return a.credential(clientData, map[string]any{
		"authenticatorData": b64.EncodeToString(auth),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(a.handle),
	})
}

// credential is the JSON of a PublicKeyCredential of the passkey whose
// response is clientData with the members of response.
func (a *Authenticator) credential(clientData []byte, response map[string]any) ([]byte, error) {
	response["clientDataJSON"] = b64.EncodeToString(clientData)
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response":                response,
		"clientExtensionResults":  map[string]any{},
	})
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data's fixed part: the RP ID's hash, the
// flags and the counter.
func (a *Authenticator) authData(flags byte) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	b := append(rp[:], flags)
	return binary.BigEndian.AppendUint32(b, a.Counter)
}

// coseKey is the public key as a COSE_Key (RFC 9053): EC2, ES256, P-256.
func (a *Authenticator) coseKey() []byte {
	pub, _ := a.key.PublicKey.Bytes() // 0x04 || x || y
	b := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21}
	b = cborBytes(b, pub[1:33])
	b = append(b, 0x22)
	return cborBytes(b, pub[33:65])
}

func cborText(b []byte, s string) []byte { return append(cborHead(b, 0x60, len(s)), s...) }

func cborBytes(b, v []byte) []byte { return append(cborHead(b, 0x40, len(v)), v...) }

// cborHead is a CBOR item's head of major type major and length n.
func cborHead(b []byte, major byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n < 256:
		return append(b, major|24, byte(n))
	}
	return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
}
