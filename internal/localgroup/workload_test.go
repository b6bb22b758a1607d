package localgroup

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(msv float64) time.Time { return t0.Add(ms(msv)) }

// ok and bad make upsert calls from start to end (ms after t0).
func ok(start, end float64, first int64) Op {
	return Op{Kind: "upsert", Start: at(start), End: at(end), FirstID: first, N: 2}
}

func bad(start, end float64) Op {
	return Op{Kind: "upsert", Start: at(start), End: at(end), Err: errors.New("unavailable")}
}

func TestGapsAndRecovery(t *testing.T) {
	// Acks every 10ms until 100; the kill at 105 (dead at 106); an answer
	// from the dying active at 107; failures; a held call answered by the
	// new active at 2100; acks again from 2110.
	var ops []Op
	id := int64(0)
	for s := 0.0; s < 100; s += 10 {
		ops = append(ops, ok(s, s+10, id))
		id += 2
	}
	ops = append(ops, ok(100, 107, id), bad(107, 900), bad(920, 1800))
	ops = append(ops, ok(1800, 2100, 1000), ok(2100, 2110, 1002), ok(2110, 2120, 1004))
	ops = append(ops, Op{Kind: "search", Start: at(0), End: at(5000)})

	first, found := FirstOKAfter(ops, "upsert", at(106), 50*time.Millisecond)
	if !found || !first.Equal(at(2100)) {
		t.Fatalf("FirstOKAfter = %v %v, want +2100ms (the call answered at +107 is the old active's)", first.Sub(t0), found)
	}
	if first, found := FirstOKAfter(ops, "upsert", at(106), 0); !found || !first.Equal(at(107)) {
		t.Fatalf("FirstOKAfter without grace = %v", first.Sub(t0))
	}
	if _, found := FirstOKAfter(ops, "upsert", at(3000), 0); found {
		t.Fatal("FirstOKAfter past the end found a call")
	}
	gap, from := LongestGap(ops, "upsert", time.Time{}, time.Time{})
	if gap != ms(1993) || !from.Equal(at(107)) {
		t.Fatalf("LongestGap = %v from %v, want 1993ms from +107", gap, from.Sub(t0))
	}
	// A window after the outage sees only the small gaps.
	if gap, _ := LongestGap(ops, "upsert", at(2100), at(3000)); gap != ms(10) {
		t.Fatalf("LongestGap after the outage = %v", gap)
	}
	// A window inside the outage still sees the gap that spans it.
	if gap, _ := LongestGap(ops, "upsert", at(500), at(600)); gap != ms(1993) {
		t.Fatalf("LongestGap inside the outage = %v", gap)
	}
	// A window before it does not.
	if gap, _ := LongestGap(ops, "upsert", at(0), at(50)); gap != ms(10) {
		t.Fatalf("LongestGap before the outage = %v", gap)
	}
	if gap, _ := LongestGap(ops, "search", time.Time{}, time.Time{}); gap != 0 {
		t.Fatalf("LongestGap of one search = %v", gap)
	}
	okN, failed := Count(ops, "upsert")
	if okN != 14 || failed != 2 {
		t.Fatalf("Count = %d ok, %d failed", okN, failed)
	}
	ids := AckedIDs(ops)
	if len(ids) != 28 || ids[0] != 0 || ids[21] != 21 || !slices.Contains(ids, 1005) || slices.Contains(ids, 1006) {
		t.Fatalf("AckedIDs = %v", ids)
	}
}
