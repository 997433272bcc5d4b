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
// Layout: the marker byte, then the deadline (Unix nanoseconds), the user id
// and the creation time (Unix seconds) as big-endian int64, then the flash
// message's bytes. The marker can never start a gob stream, so sessions
// written by gob are still read.
type codec struct{}

var _ scs.Codec = codec{}

const (
	codecMarker = 0xA1
	codecHeader = 1 + 3*8
)

// Encode implements scs.Codec.
func (codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var userID, created int64
	var flash string
	for k, v := range values {
		var ok bool
		switch k {
		case keyUserID:
			userID, ok = v.(int64)
		case keyCreated:
			created, ok = v.(int64)
		case keyFlash:
			flash, ok = v.(string)
		}
		if !ok {
			return nil, fmt.Errorf("session codec: unsupported value %q of type %T", k, v)
		}
	}
	b := make([]byte, codecHeader, codecHeader+len(flash))
	b[0] = codecMarker
	binary.BigEndian.PutUint64(b[1:], uint64(deadline.UnixNano()))
	binary.BigEndian.PutUint64(b[9:], uint64(userID))
	binary.BigEndian.PutUint64(b[17:], uint64(created))
	return append(b, flash...), nil
}

// Decode implements scs.Codec.
func (codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != codecMarker {
		return scs.GobCodec{}.Decode(b)
	}
	if len(b) < codecHeader {
		return time.Time{}, nil, errors.New("session codec: data too short")
	}
	values := make(map[string]any, 3)
	if id := int64(binary.BigEndian.Uint64(b[9:])); id != 0 {
		values[keyUserID] = id
	}
	if created := int64(binary.BigEndian.Uint64(b[17:])); created != 0 {
		values[keyCreated] = created
	}
	if len(b) > codecHeader {
		values[keyFlash] = string(b[codecHeader:])
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))).UTC(), values, nil
}
