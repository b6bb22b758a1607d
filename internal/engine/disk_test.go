package engine

import (
	"errors"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/merr"
)

// TestDiskGuardRefusesWrites: below the free-space threshold new writes
// are refused with a Milvus "disk limit exceeded" error naming the free
// space, the data dir and the minimum; the engine is not failed, reads
// go on, and writes are accepted again once space is freed.
func TestDiskGuardRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.MinFreeDiskBytes = 64 << 20 })
	defer e.Close()
	var free atomic.Int64
	// setFree changes the free space seen by statfs and makes the guard's
	// reading stale (as after diskCheckInterval): the next write re-reads.
	setFree := func(n int64) {
		free.Store(n)
		e.disk.mu.Lock()
		e.disk.checkedAt = time.Time{}
		e.disk.mu.Unlock()
	}
	e.disk.mu.Lock()
	e.disk.statfs = func(string) (int64, int64, error) { return free.Load(), 2 << 30, nil }
	e.disk.mu.Unlock()
	setFree(1 << 30)

	setupColl(t, e, "c", 4, "L2", false, false, false)
	r := rand.New(rand.NewSource(1))
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(0, 3), 4, false).fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	lsn := e.LastLSN()

	setFree(100 << 20)
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(3, 3), 4, false).fields(4, true, false, false), 3); err != nil {
		t.Fatalf("insert with 100 MiB free (minimum 64 MiB): %v", err)
	}
	// Within twice the minimum the guard re-reads before every write.
	free.Store(10 << 20)
	_, err := e.Insert(bg, "", "c", "", genBatch(r, seq(6, 3), 4, false).fields(4, true, false, false), 3)
	if err == nil || !errors.Is(err, merr.ErrServiceDiskLimit) || merr.Code(err) != 7 {
		t.Fatalf("insert with 10 MiB free: %v, want disk limit exceeded (code 7)", err)
	}
	for _, want := range []string{"disk nearly full", dir, "10485760 bytes free", "minimum is 67108864 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not mention %q", err, want)
		}
	}
	if e.Err() != nil || e.Cause() != "" {
		t.Fatalf("the engine failed on a refusal: %v", e.Err())
	}
	if d := e.Disk(); !d.Low || d.FreeBytes != 10<<20 || d.MinFreeBytes != 64<<20 {
		t.Fatalf("Disk() = %+v", d)
	}
	if got := e.LastLSN(); got != lsn+1 {
		t.Fatalf("last lsn %d, want %d: the refused write must change nothing", got, lsn+1)
	}
	// DDL is refused too; the epoch-start record of a promotion is not.
	if err := e.CreateCollection(bg, "", testSchema("d", 4, false, false, false), CreateCollectionOptions{}); !errors.Is(err, merr.ErrServiceDiskLimit) {
		t.Fatalf("create collection on a nearly full disk: %v", err)
	}
	if _, err := e.WriteEpochStart(bg, 2); err != nil {
		t.Fatalf("epoch start on a nearly full disk: %v", err)
	}

	// Freed a little: still refused (hysteresis), even a tiny write.
	setFree(70 << 20)
	if err := e.CreatePartition(bg, "", "c", "p"); !errors.Is(err, merr.ErrServiceDiskLimit) {
		t.Fatalf("create partition with 70 MiB free after a refusal: %v", err)
	}
	free.Store(1 << 30)
	e.disk.refresh() // the background loop's periodic re-read
	if e.Disk().Low {
		t.Fatal("still low after space was freed")
	}
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(6, 3), 4, false).fields(4, true, false, false), 3); err != nil {
		t.Fatalf("insert after space was freed: %v", err)
	}
}

// TestDiskGuardRealStatfs: the default statfs reads the real file system:
// a minimum above its size refuses, a negative one turns the guard off.
func TestDiskGuardRealStatfs(t *testing.T) {
	e := openTest(t, t.TempDir(), func(c *Config) { c.MinFreeDiskBytes = 1 << 62 })
	defer e.Close()
	err := e.CreateCollection(bg, "", testSchema("c", 4, false, false, false), CreateCollectionOptions{})
	if !errors.Is(err, merr.ErrServiceDiskLimit) {
		t.Fatalf("create collection with a 4 EiB minimum: %v", err)
	}
	if d := e.Disk(); !d.Low || d.FreeBytes <= 0 {
		t.Fatalf("Disk() = %+v", d)
	}
	off := openTest(t, t.TempDir(), func(c *Config) { c.MinFreeDiskBytes = -1 })
	defer off.Close()
	if err := off.CreateCollection(bg, "", testSchema("c", 4, false, false, false), CreateCollectionOptions{}); err != nil {
		t.Fatalf("guard off: %v", err)
	}
	if d := off.Disk(); d.Low || d.MinFreeBytes != 0 {
		t.Fatalf("guard off: Disk() = %+v", d)
	}
}
