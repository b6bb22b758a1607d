//go:build failpoints

package chaos

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/wal"
)

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestCutUnsyncedPowerLoss: with wal/synced-mark armed the WAL records its
// synced LSN; CutUnsynced on a copy of the directory taken while records
// past it were written but not synced removes exactly those (across a
// segment roll too), and the WAL then opens at the mark with a clean cut.
func TestCutUnsyncedPowerLoss(t *testing.T) {
	if err := failpoint.Enable(FPWALSyncedMark, specSyncedMark); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Disable(FPWALSyncedMark)
	dir := t.TempDir()
	// Small segments: the synced records span several files.
	l, err := wal.Open(wal.Options{Dir: dir, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	payload := make([]byte, 40)
	for i := 0; i < 20; i++ {
		if _, err := l.Append(1, 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// Three more, written to the file but not fsynced: frames are 65
	// bytes, so 1..20 filled five segments of four, and 21..23 go to a
	// new one without filling it (a roll would fsync them).
	for i := 0; i < 3; i++ {
		if _, err := l.Append(1, 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, wal.SyncedMarkName))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mark %s", b)
	crash := copyDir(t, dir)
	os.Remove(filepath.Join(crash, "LOCK"))
	cut, err := CutUnsynced(crash)
	if err != nil {
		t.Fatal(err)
	}
	synced := cut.Mark
	if synced != 20 || cut.Records != 3 || len(cut.Files) != 1 {
		t.Fatalf("cut %+v: want 3 records after mark 20, in one file", cut)
	}
	l2, err := wal.Open(wal.Options{Dir: crash, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := l2.LastLSN(); got != synced {
		t.Fatalf("after the cut the log ends at %d, want the mark %d (recovery %+v)", got, synced, l2.Recovery())
	}
	// A second cut finds nothing to remove.
	if cut2, err := CutUnsynced(crash); err != nil || cut2.Records != 0 {
		t.Fatalf("second cut: %+v, %v", cut2, err)
	}
	// No mark: nothing is cut.
	if cut3, err := CutUnsynced(t.TempDir()); err != nil || !cut3.NoMark {
		t.Fatalf("no mark: %+v, %v", cut3, err)
	}
}
