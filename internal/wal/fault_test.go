//go:build failpoints

package wal

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// TestFaultWriteENOSPCSticky: a write that fails with ENOSPC (failpoint
// wal/write, armed once) fails the log for good: every later call returns
// that error although the fault is gone, OnFail is called exactly once,
// and a reopen recovers every record appended before the fault.
func TestFaultWriteENOSPCSticky(t *testing.T) {
	dir := t.TempDir()
	var fails atomic.Int32
	var got atomic.Pointer[error]
	o := testOpts(dir, 1<<20)
	o.OnFail = func(err error) { fails.Add(1); got.Store(&err) }
	l := mustOpen(t, o)
	for range 3 {
		if _, err := l.Append(1, 1, []byte("ok")); err != nil {
			t.Fatal(err)
		}
	}
	if err := failpoint.Enable("wal/write", "1*error(disk full)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("wal/write") })
	_, err := l.Append(1, 1, []byte("lost"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append under wal/write: %v, want ENOSPC", err)
	}
	if _, err2 := l.Append(1, 1, []byte("again")); !errors.Is(err2, syscall.ENOSPC) {
		t.Fatalf("append after the fault cleared: %v, want the sticky ENOSPC", err2)
	}
	if err := l.WaitDurable(context.Background(), 3); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WaitDurable on a failed log: %v, want the sticky ENOSPC", err)
	}
	if err := l.Err(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Err() = %v, want ENOSPC", err)
	}
	if n := fails.Load(); n != 1 {
		t.Fatalf("OnFail called %d times, want 1", n)
	}
	if p := got.Load(); p == nil || !errors.Is(*p, syscall.ENOSPC) {
		t.Fatalf("OnFail got %v, want ENOSPC", p)
	}
	if err := l.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close of a failed log: %v, want the sticky error", err)
	}
	l = mustOpen(t, testOpts(dir, 1<<20))
	defer mustClose(t, l)
	if last := l.LastLSN(); last != 3 {
		t.Fatalf("after reopen LastLSN = %d, want 3", last)
	}
	if l.Err() != nil {
		t.Fatalf("reopened log still failed: %v", l.Err())
	}
	if lsn, err := l.Append(1, 1, []byte("after")); err != nil || lsn != 4 {
		t.Fatalf("append after reopen: lsn %d, %v", lsn, err)
	}
}

// TestFaultFsyncEIOSticky: an fsync that fails with EIO (failpoint
// wal/fsync) fails the log: the waiter gets EIO and so does every later
// append, and the durable LSN does not move past the failed fsync.
func TestFaultFsyncEIOSticky(t *testing.T) {
	var fails atomic.Int32
	o := testOpts(t.TempDir(), 1<<20)
	o.OnFail = func(error) { fails.Add(1) }
	l := mustOpen(t, o)
	if _, err := l.Append(1, 1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := failpoint.Enable("wal/fsync", "1*error"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("wal/fsync") })
	if err := l.WaitDurable(context.Background(), 1); !errors.Is(err, syscall.EIO) {
		t.Fatalf("WaitDurable under wal/fsync: %v, want EIO", err)
	}
	if d := l.DurableLSN(); d != 0 {
		t.Fatalf("DurableLSN = %d after a failed fsync, want 0", d)
	}
	if _, err := l.Append(1, 1, []byte("b")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append after the failed fsync: %v, want the sticky EIO", err)
	}
	if n := fails.Load(); n != 1 {
		t.Fatalf("OnFail called %d times, want 1", n)
	}
	_ = l.Close()
}
