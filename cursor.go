package aistat

import "math"

// Page sizes of the lists that are read a page at a time.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Cursor is a position in a list ordered by id, for keyset pagination: a
// page is found through an index from the id next to it, however deep in
// the list, and rows added or deleted meanwhile never shift it. After
// selects the page of ids just above After, Before the page just below
// Before; the zero Cursor is the start of the list.
type Cursor struct {
	After, Before int64
}

func (c Cursor) validate() error {
	switch {
	case c.After < 0 || c.Before < 0:
		return Errorf(EINVALID, "A page position must be a positive whole number.")
	case c.After > 0 && c.Before > 0:
		return Errorf(EINVALID, "A page position is either after or before an id, not both.")
	}
	return nil
}

// pageLimit is the page size asked for, within bounds.
func pageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// around returns the cursors of the pages next to one read from c: above
// holds greater ids, below smaller ones, nil when there is none. up says the
// page was read upwards (from c.After, or from the start of an ascending
// list), more that rows lay beyond its far end; ids are the page's ids in
// ascending order. Going back is assumed possible whenever the page was
// reached from a neighbour, which saves a query; should that neighbour have
// emptied meanwhile, it shows as an empty page with its own way back.
func around(c Cursor, up, more bool, ids []int64) (above, below *Cursor) {
	if up {
		if more {
			above = &Cursor{After: ids[len(ids)-1]}
		}
		switch {
		case len(ids) > 0 && c.After > 0:
			below = &Cursor{Before: ids[0]}
		case c.After > 0:
			below = &Cursor{Before: min(c.After, math.MaxInt64-1) + 1}
		}
		return above, below
	}
	if more {
		below = &Cursor{Before: ids[0]}
	}
	switch {
	case len(ids) > 0 && c.Before > 0:
		above = &Cursor{After: ids[len(ids)-1]}
	case c.Before > 0:
		// After 0 is the zero Cursor when Before was 1: the start.
		above = &Cursor{After: c.Before - 1}
	}
	return above, below
}
