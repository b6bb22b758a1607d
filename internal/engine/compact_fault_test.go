//go:build failpoints

package engine

import (
	"math/rand"
	"testing"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// TestCompactionCrashBeforeSwap: the RecCompact record is durable but the
// node crashes before the merged segment is swapped in (failpoint
// engine/compact-before-swap fails the plan, then the process "dies"
// without a checkpoint). The reopened node replays the record, runs the
// compaction, and the state is the same throughout.
func TestCompactionCrashBeforeSwap(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, noAutoCompact)
	smallSegments(t, e, 20, 10)
	d, seen, n0 := mustDigest(t, e), observe(t, e), sealedSegs(e)

	if err := failpoint.Enable("engine/compact-before-swap", "error(crash)"); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Disable("engine/compact-before-swap")
	id, plans, err := e.Compact(bg, "", "c")
	if err != nil || id <= 0 || plans == 0 {
		t.Fatalf("compact: %d %d %v", id, plans, err)
	}
	st, err := e.WaitCompaction(bg, id)
	if err != nil || len(st.Plans) != 0 {
		t.Fatalf("failed plans swapped: %+v %v", st, err)
	}
	if sealedSegs(e) != n0 || mustDigest(t, e) != d {
		t.Fatal("a failed plan changed something")
	}
	e.abandon() // crash
	failpoint.Disable("engine/compact-before-swap")

	e = openTest(t, dir, noAutoCompact)
	defer e.Close()
	st, err = e.WaitCompaction(bg, id)
	if err != nil || !st.Known || len(st.Plans) == 0 {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if n := sealedSegs(e); n >= n0 {
		t.Fatalf("%d sealed segments after replayed compaction (from %d)", n, n0)
	}
	if mustDigest(t, e) != d || observe(t, e) != seen {
		t.Fatal("state changed")
	}
}

// TestCompactionWritesDuringMerge: deletes and upserts of rows being merged
// land between the build and the swap (the compaction is paused at the
// failpoint); the swap carries them over and the row index follows.
func TestCompactionWritesDuringMerge(t *testing.T) {
	e := openTest(t, t.TempDir(), noAutoCompact)
	defer e.Close()
	smallSegments(t, e, 10, 10)
	if err := failpoint.Enable("engine/compact-before-swap", "1*pause"); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Disable("engine/compact-before-swap")
	done := make(chan []CompactionPlan)
	go func() { done <- e.CompactNow(true) }()
	if err := failpoint.WaitHit(bg, "engine/compact-before-swap", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Delete(bg, "", "c", "", "id in [1, 2, 3]"); err != nil || n != 3 {
		t.Fatalf("delete %d %v", n, err)
	}
	b := genBatch(rand.New(rand.NewSource(1)), []int64{11, 12, 13}, 4, false)
	if _, err := e.Upsert(bg, "", "c", "", b.fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	d, seen := mustDigest(t, e), observe(t, e)
	failpoint.Disable("engine/compact-before-swap")
	if plans := <-done; len(plans) == 0 {
		t.Fatal("no plans")
	}
	if mustDigest(t, e) != d || observe(t, e) != seen {
		t.Fatal("state changed by the swap")
	}
	// The row index points at the merged rows: deleting them works once.
	if n, err := e.Delete(bg, "", "c", "", "id in [4, 6, 11, 12, 13, 1]"); err != nil || n != 5 {
		t.Fatalf("delete after swap: %d %v", n, err)
	}
	if n, err := e.Delete(bg, "", "c", "", "id in [4, 6, 11, 12, 13, 1]"); err != nil || n != 0 {
		t.Fatalf("second delete after swap: %d %v", n, err)
	}
}
