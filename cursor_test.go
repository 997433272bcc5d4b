package aistat

import (
	"math"
	"strings"
	"testing"
)

func TestAround(t *testing.T) {
	ptr := func(c Cursor) *Cursor { return &c }
	tests := []struct {
		name         string
		c            Cursor
		up, more     bool
		ids          []int64
		above, below *Cursor
	}{
		{"FirstPageOfMany", Cursor{}, true, true, []int64{1, 2, 3}, ptr(Cursor{After: 3}), nil},
		{"OnlyPage", Cursor{}, true, false, []int64{1, 2}, nil, nil},
		{"MiddleForward", Cursor{After: 3}, true, true, []int64{4, 5}, ptr(Cursor{After: 5}), ptr(Cursor{Before: 4})},
		{"LastForward", Cursor{After: 5}, true, false, []int64{6}, nil, ptr(Cursor{Before: 6})},
		{"EmptyPastTheEnd", Cursor{After: 9}, true, false, nil, nil, ptr(Cursor{Before: 10})},
		{"EmptyPastMaxInt", Cursor{After: math.MaxInt64}, true, false, nil, nil, ptr(Cursor{Before: math.MaxInt64})},
		{"MiddleBackward", Cursor{Before: 6}, false, true, []int64{4, 5}, ptr(Cursor{After: 5}), ptr(Cursor{Before: 4})},
		{"FirstBackward", Cursor{Before: 4}, false, false, []int64{1, 3}, ptr(Cursor{After: 3}), nil},
		{"EmptyBeforeTheStart", Cursor{Before: 1}, false, false, nil, ptr(Cursor{}), nil},
		{"NewestOfDescending", Cursor{}, false, true, []int64{8, 9}, nil, ptr(Cursor{Before: 8})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			above, below := around(tt.c, tt.up, tt.more, tt.ids)
			if !equalCursor(above, tt.above) || !equalCursor(below, tt.below) {
				t.Errorf("around = %v, %v; want %v, %v", above, below, tt.above, tt.below)
			}
		})
	}
}

func equalCursor(a, b *Cursor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestNormalizeSearch(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"  Сара  ", "Сара", ""},
		{"", "", ""},
		{"50%_off", "50%_off", ""},
		{"a\x00b", "", "Search must not contain control characters."},
		{"a\tb", "", "Search must not contain control characters."},
		{"\xff", "", "Search must be valid UTF-8 text."},
		{strings.Repeat("ж", 101), "", "Search must be at most 100 characters."},
		{strings.Repeat("ж", 100), strings.Repeat("ж", 100), ""},
	} {
		got, err := NormalizeSearch(tt.in)
		if got != tt.want || ErrorMessage(err) != tt.err {
			t.Errorf("NormalizeSearch(%q) = %q, %q; want %q, %q", tt.in, got, ErrorMessage(err), tt.want, tt.err)
		}
	}
}
