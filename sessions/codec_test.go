package sessions

import (
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestCodec(t *testing.T) {
	deadline := time.Date(2026, 11, 27, 8, 0, 0, 123, time.UTC)
	tests := []map[string]any{
		{},
		{keyUserID: int64(42), keyCreated: int64(1_790_000_000)},
		{keyUserID: int64(42), keyCreated: int64(1_790_000_000), keyFlash: "Profile saved. Сохранено."},
		{keyUserID: int64(42), keyCreated: int64(1_790_000_000), keyRemember: true},
		{keyUserID: int64(42), keyCreated: int64(1_790_000_000), keyRemember: true, keyFlash: "Сохранено.", keyResetLink: "7\x00token"},
		{keyUserID: int64(42), keyResetLink: "7\x00token"},
		{keyUserID: int64(42), keyCreated: int64(1_790_000_000), keyAuthAt: int64(1_790_000_600), keyFlash: "Сохранено."},
	}
	for _, values := range tests {
		b, err := codec{}.Encode(deadline, values)
		if err != nil {
			t.Fatal(err)
		}
		gotDeadline, got, err := codec{}.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !gotDeadline.Equal(deadline) || len(got) != len(values) {
			t.Fatalf("decoded %v %v, want %v %v", gotDeadline, got, deadline, values)
		}
		for k, v := range values {
			if got[k] != v {
				t.Fatalf("%s = %#v, want %#v", k, got[k], v)
			}
		}
	}

	t.Run("ReadsGob", func(t *testing.T) {
		b, err := scs.GobCodec{}.Encode(deadline, map[string]any{keyUserID: int64(7)})
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := codec{}.Decode(b)
		if err != nil || got[keyUserID] != int64(7) || got[keyRemember] != true {
			t.Fatalf("gob session decoded as %v, %v", got, err)
		}
	})

	// The first layout's sessions were all kept signed in.
	t.Run("ReadsFirstLayout", func(t *testing.T) {
		b := make([]byte, codecHeaderV2, codecHeaderV2+5)
		b[0] = codecMarkerV1
		b[16] = 7
		b = append(b, "Saved"...)
		_, got, err := codec{}.Decode(b)
		if err != nil || got[keyUserID] != int64(7) || got[keyFlash] != "Saved" || got[keyRemember] != true {
			t.Fatalf("first layout decoded as %v, %v", got, err)
		}
	})

	// The second layout had no time of re-authentication.
	t.Run("ReadsSecondLayout", func(t *testing.T) {
		b := make([]byte, codecHeaderV2+1, codecHeaderV2+8)
		b[0] = codecMarkerV2
		b[16] = 7
		b[codecHeaderV2] = flagRemember
		b = append(b, 5)
		b = append(b, "Saved"...)
		b = append(b, 0)
		_, got, err := codec{}.Decode(b)
		if err != nil || got[keyUserID] != int64(7) || got[keyFlash] != "Saved" || got[keyRemember] != true || got[keyAuthAt] != nil {
			t.Fatalf("second layout decoded as %v, %v", got, err)
		}
	})

	// Not kept signed in is the flag's absence.
	t.Run("Forgotten", func(t *testing.T) {
		b, err := codec{}.Encode(deadline, map[string]any{keyUserID: int64(7), keyRemember: false})
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := (codec{}).Decode(b); err != nil || got[keyRemember] != nil {
			t.Fatalf("decoded as %v, %v", got, err)
		}
	})

	t.Run("RefusesOtherValues", func(t *testing.T) {
		if _, err := (codec{}).Encode(deadline, map[string]any{"other": 1}); err == nil {
			t.Fatal("an unknown key was encoded")
		}
		if _, err := (codec{}).Encode(deadline, map[string]any{keyUserID: "42"}); err == nil {
			t.Fatal("a user id of the wrong type was encoded")
		}
	})

	t.Run("Truncated", func(t *testing.T) {
		if _, _, err := (codec{}).Decode([]byte{codecMarker, 1, 2}); err == nil {
			t.Fatal("truncated data decoded")
		}
		b, err := codec{}.Encode(deadline, map[string]any{keyFlash: "Saved"})
		if err != nil {
			t.Fatal(err)
		}
		for n := codecHeader; n < len(b); n++ {
			if _, _, err := (codec{}).Decode(b[:n]); err == nil {
				t.Fatalf("data cut to %d of %d bytes decoded", n, len(b))
			}
		}
	})
}
