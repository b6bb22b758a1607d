package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 0))
	if got := l.LastLSN(); got != 0 {
		t.Fatalf("empty LastLSN = %d", got)
	}
	if got := l.FirstLSN(); got != 0 {
		t.Fatalf("empty FirstLSN = %d", got)
	}
	recs := genRecords(1, 1, 200, 3000)
	recs[0].Payload = nil // empty payload round-trips
	recs[1].Payload = make([]byte, smallRecordBytes+1)
	appendAll(t, l, recs)
	if got := l.LastLSN(); got != 200 {
		t.Fatalf("LastLSN = %d", got)
	}
	checkRecords(t, readAll(t, l, 0), recs)
	checkRecords(t, readAll(t, l, 57), recs[56:])
	checkRecords(t, readAll(t, l, 201), nil)
	if err := l.WaitDurable(context.Background(), 200); err != nil {
		t.Fatal(err)
	}
	if got := l.DurableLSN(); got != 200 {
		t.Fatalf("DurableLSN = %d", got)
	}
	size := l.SizeBytes()
	mustClose(t, l)

	l = mustOpen(t, testOpts(dir, 0))
	defer mustClose(t, l)
	info := l.Recovery()
	if info.Reason != "" || info.Records != 200 || info.FirstLSN != 1 || info.LastLSN != 200 || info.TruncatedBytes != 0 {
		t.Fatalf("Recovery = %+v", info)
	}
	if l.SizeBytes() != size {
		t.Fatalf("SizeBytes after reopen %d, before %d", l.SizeBytes(), size)
	}
	if l.DurableLSN() != 200 {
		t.Fatalf("DurableLSN after reopen = %d", l.DurableLSN())
	}
	checkRecords(t, readAll(t, l, 1), recs)
	more := genRecords(2, 201, 10, 100)
	appendAll(t, l, more)
	checkRecords(t, readAll(t, l, 1), append(recs, more...))
}

func TestRollManySegments(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(dir, 1024)
	l := mustOpen(t, o)
	recs := genRecords(3, 1, 500, 400)
	appendAll(t, l, recs[:250])
	mustClose(t, l)
	l = mustOpen(t, o)
	appendAll(t, l, recs[250:])
	files := segFiles(t, dir)
	if len(files) < 50 {
		t.Fatalf("only %d segment files", len(files))
	}
	// Every file is named by its first LSN and starts with that record.
	for _, name := range files {
		lsn, _ := parseSegName(name)
		got := readAll(t, l, lsn)
		if len(got) == 0 || got[0].LSN != lsn {
			t.Fatalf("file %s: first record %+v", name, got)
		}
	}
	for _, from := range []uint64{1, 2, 99, 250, 251, 499, 500} {
		checkRecords(t, readAll(t, l, from), recs[from-1:])
	}
	var fileBytes int64
	for _, name := range files {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fileBytes += st.Size()
	}
	if l.SizeBytes() != fileBytes {
		t.Fatalf("SizeBytes %d, files hold %d", l.SizeBytes(), fileBytes)
	}
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	if r := l.Recovery(); r.Reason != "" || r.Records != 500 {
		t.Fatalf("Recovery = %+v", r)
	}
	checkRecords(t, readAll(t, l, 1), recs)
}

func TestIterateStopsOnFnError(t *testing.T) {
	l := mustOpen(t, testOpts(t.TempDir(), 512))
	defer mustClose(t, l)
	appendAll(t, l, genRecords(4, 1, 50, 100))
	stop := errors.New("stop")
	n := 0
	err := l.Iterate(1, func(r Record) error {
		n++
		if r.LSN == 20 {
			return stop
		}
		return nil
	})
	if err != stop || n != 20 {
		t.Fatalf("Iterate = %v after %d records", err, n)
	}
}

func TestTruncateFront(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(dir, 1024)
	l := mustOpen(t, o)
	recs := genRecords(5, 1, 300, 300)
	appendAll(t, l, recs)
	nBefore := len(segFiles(t, dir))
	if err := l.TruncateFront(0); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 1 {
		t.Fatalf("FirstLSN = %d after TruncateFront(0)", l.FirstLSN())
	}
	if err := l.TruncateFront(150); err != nil {
		t.Fatal(err)
	}
	first := l.FirstLSN()
	if first > 151 || first < 2 {
		t.Fatalf("FirstLSN = %d after TruncateFront(150)", first)
	}
	if n := len(segFiles(t, dir)); n >= nBefore {
		t.Fatalf("files %d -> %d", nBefore, n)
	}
	checkRecords(t, readAll(t, l, first), recs[first-1:])
	wantErrIs(t, l.Iterate(first-1, func(Record) error { return nil }), ErrTruncated)
	wantErrIs(t, l.Iterate(0, func(Record) error { return nil }), ErrTruncated)

	// Never removes the file holding LastLSN.
	if err := l.TruncateFront(1000); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n != 1 {
		t.Fatalf("%d files after TruncateFront past the end", n)
	}
	first = l.FirstLSN()
	if first == 0 || first > 300 || l.LastLSN() != 300 {
		t.Fatalf("FirstLSN %d LastLSN %d", first, l.LastLSN())
	}
	mustClose(t, l)

	l = mustOpen(t, o)
	defer mustClose(t, l)
	if l.FirstLSN() != first || l.LastLSN() != 300 || l.Recovery().Reason != "" {
		t.Fatalf("after reopen FirstLSN %d LastLSN %d info %+v", l.FirstLSN(), l.LastLSN(), l.Recovery())
	}
	checkRecords(t, readAll(t, l, first), recs[first-1:])
	lsn, err := l.Append(9, 1, []byte("x"))
	if err != nil || lsn != 301 {
		t.Fatalf("Append = %d, %v", lsn, err)
	}
}

func TestTruncateBack(t *testing.T) {
	recs := genRecords(6, 1, 120, 300)
	// after values: mid-segment, segment boundaries, the start, no-op.
	cases := []uint64{119, 77, 60, 1, 0, 120, 500}
	for _, after := range cases {
		dir := t.TempDir()
		o := testOpts(dir, 1024)
		l := mustOpen(t, o)
		appendAll(t, l, recs)
		// Also cut exactly at a segment start.
		if after == 60 {
			files := segFiles(t, dir)
			lsn, _ := parseSegName(files[len(files)/2])
			after = lsn - 1
		}
		if err := l.TruncateBack(after); err != nil {
			t.Fatalf("TruncateBack(%d): %v", after, err)
		}
		keep := min(after, 120)
		if l.LastLSN() != keep || (after < 120 && l.DurableLSN() != keep) {
			t.Fatalf("after=%d: LastLSN %d DurableLSN %d", after, l.LastLSN(), l.DurableLSN())
		}
		checkRecords(t, readAll(t, l, 1), recs[:keep])
		wantErrIs(t, l.WaitDurable(context.Background(), keep+1), ErrNotAppended)
		more := genRecords(int64(after), keep+1, 30, 300)
		appendAll(t, l, more)
		want := append(append([]Record(nil), recs[:keep]...), more...)
		checkRecords(t, readAll(t, l, 1), want)
		mustClose(t, l)

		l = mustOpen(t, o)
		if r := l.Recovery(); r.Reason != "" {
			t.Fatalf("after=%d: recovery %+v", after, r)
		}
		checkRecords(t, readAll(t, l, 1), want)
		mustClose(t, l)
	}
}

func TestTruncateBackToEmptyKeepsPosition(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(dir, 1024)
	l := mustOpen(t, o)
	appendAll(t, l, genRecords(7, 1, 100, 300))
	if err := l.TruncateFront(50); err != nil {
		t.Fatal(err)
	}
	first := l.FirstLSN()
	wantErrIs(t, l.TruncateBack(first-2), ErrTruncated)
	if err := l.TruncateBack(first - 1); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 0 || l.LastLSN() != first-1 {
		t.Fatalf("FirstLSN %d LastLSN %d", l.FirstLSN(), l.LastLSN())
	}
	checkRecords(t, readAll(t, l, first), nil)
	wantErrIs(t, l.Iterate(first-1, func(Record) error { return nil }), ErrTruncated)
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	if l.LastLSN() != first-1 || l.Recovery().Records != 0 || l.Recovery().LastLSN != 0 {
		t.Fatalf("reopen: LastLSN %d info %+v", l.LastLSN(), l.Recovery())
	}
	if lsn, err := l.Append(1, 1, nil); err != nil || lsn != first {
		t.Fatalf("Append = %d, %v; want %d", lsn, err, first)
	}
}

func TestSetNextLSN(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(dir, 1024)
	l := mustOpen(t, o)
	if err := l.SetNextLSN(0); err == nil {
		t.Fatal("SetNextLSN(0) succeeded")
	}
	if err := l.SetNextLSN(500); err != nil {
		t.Fatal(err)
	}
	if err := l.SetNextLSN(1000); err != nil { // still empty: allowed again
		t.Fatal(err)
	}
	if l.LastLSN() != 999 || l.FirstLSN() != 0 || l.DurableLSN() != 999 {
		t.Fatalf("LastLSN %d FirstLSN %d DurableLSN %d", l.LastLSN(), l.FirstLSN(), l.DurableLSN())
	}
	if files := segFiles(t, dir); len(files) != 1 || files[0] != segName(1000) {
		t.Fatalf("files %v", files)
	}
	mustClose(t, l)

	// The position survives reopen with no records.
	l = mustOpen(t, o)
	if l.LastLSN() != 999 {
		t.Fatalf("reopen LastLSN %d", l.LastLSN())
	}
	wantErrIs(t, l.Iterate(1, func(Record) error { return nil }), ErrTruncated)
	recs := genRecords(8, 1000, 40, 200)
	appendAll(t, l, recs)
	wantErrIs(t, l.SetNextLSN(5), ErrNotEmpty)
	mustClose(t, l)

	l = mustOpen(t, o)
	defer mustClose(t, l)
	if l.FirstLSN() != 1000 || l.LastLSN() != 1039 {
		t.Fatalf("FirstLSN %d LastLSN %d", l.FirstLSN(), l.LastLSN())
	}
	checkRecords(t, readAll(t, l, 1000), recs)
	// Empty it with TruncateBack, then restart from a snapshot position.
	if err := l.TruncateBack(999); err != nil {
		t.Fatal(err)
	}
	if err := l.SetNextLSN(7); err != nil {
		t.Fatal(err)
	}
	if lsn, err := l.Append(1, 1, nil); err != nil || lsn != 7 {
		t.Fatalf("Append = %d, %v", lsn, err)
	}
}

func TestAppendRecord(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 0))
	defer mustClose(t, l)
	recs := genRecords(9, 1, 10, 50)
	for _, r := range recs {
		if err := l.AppendRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	wantErrIs(t, l.AppendRecord(Record{LSN: 12}), ErrLSNGap)
	wantErrIs(t, l.AppendRecord(Record{LSN: 10}), ErrLSNGap)
	checkRecords(t, readAll(t, l, 1), recs)
	// Validation errors are not sticky.
	if err := l.AppendRecord(Record{LSN: 11}); err != nil {
		t.Fatal(err)
	}
}

func TestTooLarge(t *testing.T) {
	o := testOpts(t.TempDir(), 0)
	o.MaxRecordBytes = 100
	l := mustOpen(t, o)
	defer mustClose(t, l)
	_, err := l.Append(1, 1, make([]byte, 101))
	wantErrIs(t, err, ErrTooLarge)
	wantErrIs(t, l.AppendRecord(Record{LSN: 1, Payload: make([]byte, 101)}), ErrTooLarge)
	if _, err := l.Append(1, 1, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
}

func TestClosedIsSticky(t *testing.T) {
	l := mustOpen(t, testOpts(t.TempDir(), 0))
	if _, err := l.Append(1, 1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	mustClose(t, l) // idempotent
	ctx := context.Background()
	_, err := l.Append(1, 1, nil)
	wantErrIs(t, err, ErrClosed)
	wantErrIs(t, l.AppendRecord(Record{LSN: 2}), ErrClosed)
	wantErrIs(t, l.WaitDurable(ctx, 1), ErrClosed) // durable already, but closed
	wantErrIs(t, l.Sync(), ErrClosed)
	wantErrIs(t, l.Iterate(1, func(Record) error { return nil }), ErrClosed)
	wantErrIs(t, l.TruncateFront(1), ErrClosed)
	wantErrIs(t, l.TruncateBack(0), ErrClosed)
	wantErrIs(t, l.SetNextLSN(5), ErrClosed)
	if l.LastLSN() != 1 || l.DurableLSN() != 1 {
		t.Fatalf("LastLSN %d DurableLSN %d", l.LastLSN(), l.DurableLSN())
	}
}

func TestFailedIsSticky(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 0))
	if _, err := l.Append(1, 1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// Inject an I/O error: close the active file behind the log's back.
	l.mu.Lock()
	l.active.f.Close()
	l.mu.Unlock()
	_, err := l.Append(1, 1, []byte("b"))
	if err == nil {
		t.Fatal("Append on a closed fd succeeded")
	}
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("err = %v, want the fd error", err)
	}
	ctx := context.Background()
	for name, got := range map[string]error{
		"Append":        func() error { _, err := l.Append(1, 1, nil); return err }(),
		"AppendRecord":  l.AppendRecord(Record{LSN: 2}),
		"WaitDurable":   l.WaitDurable(ctx, 1),
		"Sync":          l.Sync(),
		"Iterate":       l.Iterate(1, func(Record) error { return nil }),
		"TruncateFront": l.TruncateFront(1),
		"TruncateBack":  l.TruncateBack(0),
		"SetNextLSN":    l.SetNextLSN(3),
	} {
		if got != err {
			t.Errorf("%s = %v, want the sticky %v", name, got, err)
		}
	}
	if cerr := l.Close(); cerr != err {
		t.Fatalf("Close = %v, want %v", cerr, err)
	}
	// The record written before the failure survives.
	l = mustOpen(t, testOpts(dir, 0))
	defer mustClose(t, l)
	if l.LastLSN() != 1 {
		t.Fatalf("reopen LastLSN %d", l.LastLSN())
	}
}

func TestGroupCommit(t *testing.T) {
	// Small segments also exercise rolls racing the sync goroutine.
	for _, seg := range []int64{0, 4096} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) { testGroupCommit(t, seg) })
	}
}

func testGroupCommit(t *testing.T, segmentBytes int64) {
	var fsyncs atomic.Int64
	o := testOpts(t.TempDir(), segmentBytes)
	o.OnFsync = func(time.Duration) { fsyncs.Add(1) }
	l := mustOpen(t, o)
	defer mustClose(t, l)
	base := fsyncs.Load()

	const writers, perWriter = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 100+w)
			for range perWriter {
				lsn, err := l.Append(uint64(w), RecordType(w), p)
				if err == nil {
					err = l.WaitDurable(context.Background(), lsn)
				}
				if err == nil && l.DurableLSN() < lsn {
					err = errors.New("DurableLSN below a waited-for LSN")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := fsyncs.Load() - base
	t.Logf("%d appends shared %d fsyncs", writers*perWriter, n)
	if n >= writers*perWriter {
		t.Fatalf("%d fsyncs for %d appends: not shared", n, writers*perWriter)
	}
	if l.DurableLSN() != writers*perWriter {
		t.Fatalf("DurableLSN %d", l.DurableLSN())
	}
	// Every writer's records are present, in LSN order.
	got := readAll(t, l, 1)
	if len(got) != writers*perWriter {
		t.Fatalf("%d records", len(got))
	}
	for i, r := range got {
		if r.LSN != uint64(i+1) || len(r.Payload) != 100+int(r.Epoch) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

func TestWaitDurableContext(t *testing.T) {
	// Block the sync goroutine inside OnFsync so the wait cannot finish.
	release := make(chan struct{})
	var blocking atomic.Bool
	o := testOpts(t.TempDir(), 0)
	o.OnFsync = func(time.Duration) {
		if blocking.Load() {
			<-release
		}
	}
	l := mustOpen(t, o)
	defer mustClose(t, l)
	blocking.Store(true)
	lsn, err := l.Append(1, 1, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantErrIs(t, l.WaitDurable(ctx, lsn), context.Canceled)
	wantErrIs(t, l.WaitDurable(context.Background(), lsn+1), ErrNotAppended)
	blocking.Store(false)
	close(release)
	if err := l.WaitDurable(context.Background(), lsn); err != nil {
		t.Fatal(err)
	}
}

func TestSyncIntervalMode(t *testing.T) {
	dir := t.TempDir()
	var fsyncs atomic.Int64
	o := testOpts(dir, 0)
	o.Sync = SyncInterval
	o.SyncInterval = time.Hour // only Sync/Close fsync in this test
	o.OnFsync = func(time.Duration) { fsyncs.Add(1) }
	l := mustOpen(t, o)
	base := fsyncs.Load()
	recs := genRecords(10, 1, 20, 100)
	appendAll(t, l, recs)
	if err := l.WaitDurable(context.Background(), 20); err != nil {
		t.Fatal(err)
	}
	if l.DurableLSN() != 20 || fsyncs.Load() != base {
		t.Fatalf("DurableLSN %d, fsyncs %d", l.DurableLSN(), fsyncs.Load()-base)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if fsyncs.Load() != base+1 {
		t.Fatalf("Sync did %d fsyncs", fsyncs.Load()-base)
	}
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	checkRecords(t, readAll(t, l, 1), recs)
}

func TestOptionsValidate(t *testing.T) {
	ok := DefaultOptions("/tmp/x")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Options{Dir: "d"}).Validate(); err != nil {
		t.Fatalf("zero fields must take defaults: %v", err)
	}
	for _, c := range []struct {
		mut  func(*Options)
		want string
	}{
		{func(o *Options) { o.Dir = "" }, "wal: Dir"},
		{func(o *Options) { o.SegmentBytes = -1 }, "wal: SegmentBytes = -1: must be > 0"},
		{func(o *Options) { o.Sync = 7 }, "wal: Sync = 7"},
		{func(o *Options) { o.SyncInterval = -time.Second }, "wal: SyncInterval = -1s"},
		{func(o *Options) { o.MaxRecordBytes = -5 }, "wal: MaxRecordBytes = -5"},
		{func(o *Options) { o.MaxRecordBytes = 1 << 33 }, "wal: MaxRecordBytes = 8589934592"},
	} {
		o := ok
		c.mut(&o)
		err := o.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Validate = %v, want prefix %q", err, c.want)
		}
		if _, oerr := Open(o); oerr == nil {
			t.Errorf("Open accepted %+v", o)
		}
	}
}

func TestDirLocked(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 0))
	_, err := Open(testOpts(dir, 0))
	wantErrIs(t, err, ErrLocked)
	mustClose(t, l)
	l = mustOpen(t, testOpts(dir, 0))
	mustClose(t, l)
}

// TestConcurrentIterate runs a writer, a front truncator and readers
// together (run with -race); readers must see dense prefixes.
func TestConcurrentIterate(t *testing.T) {
	l := mustOpen(t, testOpts(t.TempDir(), 2048))
	defer mustClose(t, l)
	const total = 400
	recs := genRecords(11, 1, total, 200)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, r := range recs {
			if _, err := l.Append(r.Epoch, r.Type, r.Payload); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 99 {
				if err := l.TruncateFront(uint64(i - 50)); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.LastLSN() < total {
				first := l.FirstLSN()
				if first == 0 {
					continue
				}
				next := first
				err := l.Iterate(first, func(r Record) error {
					if r.LSN != next {
						return errors.New("not dense")
					}
					if d := diffRecords([]Record{r}, recs[r.LSN-1:r.LSN]); d != "" {
						return errors.New(d)
					}
					next++
					return nil
				})
				if err != nil && !errors.Is(err, ErrTruncated) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParseSyncMode(t *testing.T) {
	for s, want := range map[string]SyncMode{"fsync": SyncFsync, "": SyncFsync, "interval": SyncInterval} {
		if got, err := ParseSyncMode(s); err != nil || got != want || (s != "" && got.String() != s) {
			t.Errorf("ParseSyncMode(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseSyncMode("never"); err == nil {
		t.Error("ParseSyncMode(never) succeeded")
	}
}
