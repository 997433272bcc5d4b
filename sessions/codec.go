package sessions

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// codec stores the session's few values in a fixed binary layout. scs's
// default, gob, builds a decoder for every session it loads, which cost an
// eighth of an authenticated page's CPU time.
//
// Layout: the marker byte, then the deadline (Unix nanoseconds), the user id,
// the creation time and the time of the last re-authentication (Unix
// seconds) as big-endian int64, a flags byte (bit 0: keep me signed in),
// then the flash message and the reset link to show, each as its length
// (uvarint) and its bytes. The marker can never start a gob stream, so
// sessions written by gob are still read; so are those of the first layout
// (marker codecMarkerV1: no flags, the flash to the end), all of which were
// kept signed in, and of the second (codecMarkerV2: no re-authentication).
type codec struct{}

var _ scs.Codec = codec{}

const (
	codecMarkerV1 = 0xA1
	codecMarkerV2 = 0xA2
	codecMarker   = 0xA3
	codecHeaderV2 = 1 + 3*8
	codecHeader   = codecHeaderV2 + 8
	flagRemember  = 1 << 0
)

// Encode implements scs.Codec.
func (codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var userID, created, authAt int64
	var flash, resetLink string
	var remember bool
	for k, v := range values {
		var ok bool
		switch k {
		case keyUserID:
			userID, ok = v.(int64)
		case keyCreated:
			created, ok = v.(int64)
		case keyAuthAt:
			authAt, ok = v.(int64)
		case keyFlash:
			flash, ok = v.(string)
		case keyResetLink:
			resetLink, ok = v.(string)
		case keyRemember:
			remember, ok = v.(bool)
		}
		if !ok {
			return nil, fmt.Errorf("session codec: unsupported value %q of type %T", k, v)
		}
	}
	b := make([]byte, codecHeader+1, codecHeader+1+2*binary.MaxVarintLen64+len(flash)+len(resetLink))
	b[0] = codecMarker
	binary.BigEndian.PutUint64(b[1:], uint64(deadline.UnixNano()))
	binary.BigEndian.PutUint64(b[9:], uint64(userID))
	binary.BigEndian.PutUint64(b[17:], uint64(created))
	binary.BigEndian.PutUint64(b[25:], uint64(authAt))
	if remember {
		b[codecHeader] = flagRemember
	}
	for _, s := range []string{flash, resetLink} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// Decode implements scs.Codec. A session that was not asked to be
// forgotten with the browser (no flag) has no keyRemember.
func (codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || (b[0] != codecMarker && b[0] != codecMarkerV2 && b[0] != codecMarkerV1) {
		deadline, values, err := scs.GobCodec{}.Decode(b)
		if err == nil {
			values[keyRemember] = true
		}
		return deadline, values, err
	}
	if len(b) < codecHeaderV2 {
		return time.Time{}, nil, errors.New("session codec: data too short")
	}
	values := make(map[string]any, 5)
	if id := int64(binary.BigEndian.Uint64(b[9:])); id != 0 {
		values[keyUserID] = id
	}
	if created := int64(binary.BigEndian.Uint64(b[17:])); created != 0 {
		values[keyCreated] = created
	}
	deadline := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))).UTC()
	if b[0] == codecMarkerV1 {
		values[keyRemember] = true
		if len(b) > codecHeaderV2 {
			values[keyFlash] = string(b[codecHeaderV2:])
		}
		return deadline, values, nil
	}
	header := codecHeaderV2
	if b[0] == codecMarker {
		header = codecHeader
	}
	if len(b) < header+1 {
		return time.Time{}, nil, errors.New("session codec: data too short")
	}
	if header == codecHeader {
		if authAt := int64(binary.BigEndian.Uint64(b[25:])); authAt != 0 {
			values[keyAuthAt] = authAt
		}
	}
	if b[header]&flagRemember != 0 {
		values[keyRemember] = true
	}
	rest := b[header+1:]
	for _, key := range []string{keyFlash, keyResetLink} {
		n, size := binary.Uvarint(rest)
		if size <= 0 || n > uint64(len(rest)-size) {
			return time.Time{}, nil, errors.New("session codec: data truncated")
		}
		if n > 0 {
			values[key] = string(rest[size : size+int(n)])
		}
		rest = rest[size+int(n):]
	}
	return deadline, values, nil
}
