package engine

import (
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
)

func TestRecoveryCloseReopen(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 50 })
	randomWorkload(t, e, 7, 150, nil)
	want := mustDigest(t, e)
	lsn := e.LastLSN()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 50 })
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs after close/reopen")
	}
	if e.LastLSN() != lsn || e.Stats().CheckpointLSN != lsn {
		t.Fatalf("lsn %d ckpt %d, want %d", e.LastLSN(), e.Stats().CheckpointLSN, lsn)
	}
	// Writes continue after recovery.
	randomWorkload(t, e, 8, 30, nil)
	want = mustDigest(t, e)
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs after second reopen")
	}
}

func TestRecoveryCheckpointThenCrash(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 40 })
	randomWorkload(t, e, 11, 120, nil)
	if err := e.Flush(bg, "", nil); err != nil {
		t.Fatal(err)
	}
	ckpt := e.Stats().CheckpointLSN
	// More writes after the checkpoint: inserts, upserts and deletes that
	// hit rows in the sealed (persisted) segments.
	randomWorkload(t, e, 12, 80, nil)
	want := mustDigest(t, e)
	last := e.LastLSN()
	if last <= ckpt {
		t.Fatal("no writes after checkpoint")
	}
	e.abandon() // crash: no checkpoint at close
	e = openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 40 })
	defer e.Close()
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs after crash recovery")
	}
	if e.LastLSN() != last {
		t.Fatalf("last lsn %d want %d", e.LastLSN(), last)
	}
}

// TestRecoveryEmptyWALAfterCheckpoint: the manifest alone restores the
// state and the log continues after its LSN.
func TestRecoveryEmptyWALAfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	randomWorkload(t, e, 5, 60, nil)
	want := mustDigest(t, e)
	last := e.LastLSN()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := mustDigest(t, e); got != want {
		t.Fatal("digest differs")
	}
	lsn, err := e.WriteEpochStart(bg, 9)
	if err != nil || lsn != last+1 {
		t.Fatalf("next lsn %d (%v), want %d", lsn, err, last+1)
	}
}

// TestRecoveryTornTail: a WAL cut mid-record loses exactly the last batch,
// atomically.
func TestRecoveryTornTail(t *testing.T) {
	dir := t.TempDir()
	const dim = 8
	e := openTest(t, dir, nil)
	setupColl(t, e, "t", dim, "L2", false, false, false)
	r := rand.New(rand.NewSource(9))
	var digests []string
	for i := range 5 {
		b := genBatch(r, seq(i*100, 100), dim, false)
		if _, err := e.Insert(bg, "", "t", "", b.fields(dim, true, false, false), 100); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, mustDigest(t, e))
	}
	e.abandon()
	files, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	sort.Strings(files)
	last := files[len(files)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	// The last record holds 100*8*4 bytes of vectors and more; cut 1000
	// bytes: mid-record.
	if err := os.Truncate(last, fi.Size()-1000); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := mustDigest(t, e); got != digests[3] {
		t.Fatal("state after torn tail is not the state before the last batch")
	}
	st, _ := e.CollectionStats("", "t")
	if st.RowCount != 400 {
		t.Fatalf("rows %d want 400", st.RowCount)
	}
}

func TestRecoveryCorruptSegment(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	randomWorkload(t, e, 3, 40, nil)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "segments", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	b, _ := os.ReadFile(segs[0])
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{DataDir: dir, Logger: quietLog})
	if err == nil || !strings.Contains(err.Error(), filepath.Base(segs[0])) {
		t.Fatalf("open with corrupt segment: %v", err)
	}
}

// TestCheckpointBackground: crossing CheckpointWALBytes triggers a
// checkpoint without Flush, and the WAL is truncated.
func TestCheckpointBackground(t *testing.T) {
	dir := t.TempDir()
	const dim = 16
	e := openTest(t, dir, func(c *Config) { c.CheckpointWALBytes = 64 << 10 })
	defer e.Close()
	e.bgNotify = make(chan error, 100)
	setupColl(t, e, "b", dim, "IP", false, false, false)
	r := rand.New(rand.NewSource(1))
	for i := range 10 {
		b := genBatch(r, seq(i*200, 200), dim, false)
		if _, err := e.Insert(bg, "", "b", "", b.fields(dim, true, false, false), 200); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-e.bgNotify; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err != nil {
		t.Fatalf("no manifest after background checkpoint: %v", err)
	}
}

// TestWALFailureFailsEngine: once the log fails, every call errors with
// ErrServiceInternal and memory does not run ahead of the log.
func TestWALFailureFailsEngine(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	const dim = 4
	setupColl(t, e, "f", dim, "L2", false, false, false)
	lsn := e.LastLSN()
	_ = e.wal.Close() // the log stops working underneath the engine
	b := genBatch(rand.New(rand.NewSource(1)), seq(0, 3), dim, false)
	_, err := e.Insert(bg, "", "f", "", b.fields(dim, true, false, false), 3)
	if merr.Code(err) != merr.ErrServiceInternal.Code {
		t.Fatalf("insert on failed wal: %v", err)
	}
	if e.LastLSN() != lsn {
		t.Fatal("applied past a failed append")
	}
	if _, err := e.DescribeCollection("", "f"); merr.Code(err) != merr.ErrServiceInternal.Code {
		t.Fatalf("describe after failure: %v", err)
	}
	if _, err := e.Search(bg, &SearchRequest{Collection: "f", Vectors: [][]float32{b.vecs[:dim]}, TopK: 1}); merr.Code(err) != merr.ErrServiceInternal.Code {
		t.Fatalf("search after failure: %v", err)
	}
	_ = e.Close()
}
