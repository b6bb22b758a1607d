//go:build failpoints

package engine

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/merr"
)

// TestEngineFailsOnWALFault: a WAL write failing with ENOSPC (failpoint
// wal/write) fails the engine for good: Failed is closed, Cause names
// the cause, every later write is refused although the fault is gone,
// and a reopen recovers every acknowledged write and takes writes again.
func TestEngineFailsOnWALFault(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	setupColl(t, e, "c", 4, "L2", false, false, false)
	r := rand.New(rand.NewSource(1))
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(0, 5), 4, false).fields(4, true, false, false), 5); err != nil {
		t.Fatal(err)
	}
	acked := e.LastLSN()
	digest := mustDigest(t, e)
	select {
	case <-e.Failed():
		t.Fatal("Failed closed on a healthy engine")
	default:
	}

	if err := failpoint.Enable("wal/write", "1*error(disk full)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("wal/write") })
	_, err := e.Insert(bg, "", "c", "", genBatch(r, seq(5, 5), 4, false).fields(4, true, false, false), 5)
	if !errors.Is(err, merr.ErrServiceInternal) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("insert under wal/write: %v", err)
	}
	select {
	case <-e.Failed():
	default:
		t.Fatal("Failed not closed after the WAL failed")
	}
	if c := e.Cause(); !strings.Contains(c, "no space left on device") {
		t.Fatalf("Cause() = %q", c)
	}
	if st := e.Stats(); !strings.Contains(st.Broken, "no space left on device") {
		t.Fatalf("Stats().Broken = %q", st.Broken)
	}
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(5, 5), 4, false).fields(4, true, false, false), 5); err == nil {
		t.Fatal("insert accepted by a failed engine")
	}
	_ = e.Close()

	e = openTest(t, dir, nil)
	defer e.Close()
	if e.LastLSN() != acked || mustDigest(t, e) != digest {
		t.Fatalf("reopened at lsn %d, want %d with the same digest", e.LastLSN(), acked)
	}
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(5, 5), 4, false).fields(4, true, false, false), 5); err != nil {
		t.Fatalf("insert after reopen: %v", err)
	}
}

// TestEngineFailsOnBackgroundFsync: an fsync failure hit by the WAL's
// background fsync (interval mode, no writer waiting) fails the engine at
// once, through the WAL's OnFail.
func TestEngineFailsOnBackgroundFsync(t *testing.T) {
	e := openTest(t, t.TempDir(), func(c *Config) { c.Sync = SyncInterval })
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	if err := failpoint.Enable("wal/fsync", "error"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("wal/fsync") })
	r := rand.New(rand.NewSource(2))
	// Interval mode acknowledges after write(2); the fsync comes later.
	_, _ = e.Insert(bg, "", "c", "", genBatch(r, seq(0, 5), 4, false).fields(4, true, false, false), 5)
	<-e.Failed() // the background fsync fails within an interval
	if c := e.Cause(); !strings.Contains(c, "input/output error") {
		t.Fatalf("Cause() = %q", c)
	}
}
