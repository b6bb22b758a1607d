package chaos

import (
	"fmt"
	"slices"
)

// SetResult is the append-set check of one phase: every row of an
// acknowledged insert must be present at the end.
type SetResult struct {
	Phase         int
	Inserts       int     // insert calls
	Acked         int     // acknowledged rows
	Indeterminate int     // rows of failed or timed-out inserts (may be present or not)
	Lost          []int64 // acknowledged rows missing at the end
	// IndeterminatePresent counts indeterminate rows found at the end.
	IndeterminatePresent int
}

// CheckSet checks the inserts in ops (KindInsert and the inserts that
// precede searches) against present, the ids read back at the end. It
// returns the results by phase (of the insert's invocation) and the
// phantoms: present ids that no insert ever attempted.
func CheckSet(ops []Op, present map[int64]bool) (map[int]*SetResult, []int64) {
	res := map[int]*SetResult{}
	attempted := map[int64]bool{}
	for _, op := range ops {
		if op.Kind != KindInsert {
			continue
		}
		r := res[op.Phase]
		if r == nil {
			r = &SetResult{Phase: op.Phase}
			res[op.Phase] = r
		}
		r.Inserts++
		for _, id := range op.IDs {
			attempted[id] = true
			switch {
			case op.Ok():
				r.Acked++
				if !present[id] {
					r.Lost = append(r.Lost, id)
				}
			default:
				r.Indeterminate++
				if present[id] {
					r.IndeterminatePresent++
				}
			}
		}
	}
	var phantoms []int64
	for id := range present {
		if !attempted[id] {
			phantoms = append(phantoms, id)
		}
	}
	slices.Sort(phantoms)
	for _, r := range res {
		slices.Sort(r.Lost)
	}
	return res, phantoms
}

// SearchResult is the search sanity check of one phase: a freshly
// acknowledged vector is found by an exact, strongly consistent search of
// itself.
type SearchResult struct {
	Phase  int
	OK     int // searches that found the row
	Failed int // searches that failed (unavailability, not a violation)
	// Misses are searches that succeeded without finding the row.
	Misses []string
}

// CheckSearches sums the searches in ops by phase.
func CheckSearches(ops []Op) map[int]*SearchResult {
	res := map[int]*SearchResult{}
	for _, op := range ops {
		if op.Kind != KindSearch {
			continue
		}
		r := res[op.Phase]
		if r == nil {
			r = &SearchResult{Phase: op.Phase}
			res[op.Phase] = r
		}
		switch {
		case !op.Ok():
			r.Failed++
		case len(op.IDs) == 1 && op.Value == op.IDs[0]:
			r.OK++
		default:
			r.Misses = append(r.Misses, fmt.Sprintf("client %d at %v: search for row %v found %d",
				op.Client, op.Invoke, op.IDs, op.Value))
		}
	}
	return res
}
