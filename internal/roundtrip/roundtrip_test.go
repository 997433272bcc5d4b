package roundtrip

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// message frames a protocol message of type typ around body.
func message(typ byte, body string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func TestDescribe(t *testing.T) {
	startup := make([]byte, 8)
	binary.BigEndian.PutUint32(startup, 8)
	binary.BigEndian.PutUint32(startup[4:], 196608)
	cancel := make([]byte, 16)
	binary.BigEndian.PutUint32(cancel, 16)
	binary.BigEndian.PutUint32(cancel[4:], 80877102)
	long := strings.Repeat("я", 200)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"Query", message('Q', "SELECT 1\x00"), "SELECT 1"},
		{"ParseUnnamed", message('P', "\x00SELECT *\n\t FROM t WHERE id = $1\x00\x00\x00"), "SELECT * FROM t WHERE id = $1"},
		{"ParseNamed", message('P', "s1\x00SELECT 2\x00\x00\x00"), "SELECT 2"},
		{"Startup", startup, "connection start-up"},
		{"Cancel", cancel, "cancel request"},
		{"Terminate", message('X', ""), "terminate"},
		{"Password", message('p', "secret\x00"), "authentication"},
		{"Sync", message('S', ""), `message 'S'`},
		{"Short", []byte{'Q'}, "a short message"},
		{"Long", message('Q', long+"\x00"), strings.Repeat("я", maxStatement/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(tt.b); got != tt.want {
				t.Fatalf("describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCounter_Since(t *testing.T) {
	var c Counter
	for i := range kept + 10 {
		c.add(message('Q', fmt.Sprintf("SELECT %d\x00", i)))
	}
	if got, want := c.Count(), int64(kept+10); got != want {
		t.Fatalf("Count = %d, want %d", got, want)
	}
	if got, want := c.Since(c.Count()-2), []string{fmt.Sprintf("SELECT %d", kept+8), fmt.Sprintf("SELECT %d", kept+9)}; !slices.Equal(got, want) {
		t.Fatalf("Since(last two) = %q, want %q", got, want)
	}
	all := c.Since(0)
	if len(all) != kept || all[0] != "SELECT 10" {
		t.Fatalf("Since(0): %d trips from %q, want the latest %d from SELECT 10", len(all), all[0], kept)
	}
	if got := c.Since(c.Count()); len(got) != 0 {
		t.Fatalf("Since(Count()) = %q, want none", got)
	}
}
