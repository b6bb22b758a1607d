package wal

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readUpTo reads everything available from r in calls of at most maxBytes.
func readUpTo(t *testing.T, r *Reader, last uint64, maxBytes int64) []Record {
	t.Helper()
	var out []Record
	for {
		n := len(out)
		var err error
		out, err = r.Read(out, last, maxBytes)
		if err != nil {
			t.Fatalf("Read at %d: %v", r.Next(), err)
		}
		if len(out) == n {
			return out
		}
	}
}

// TestReaderTails follows a growing log across segment rolls: every record
// comes back once, in order, verified, and the reader keeps its place (the
// open file and the offset of the next frame) between calls.
func TestReaderTails(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 64<<10))
	defer mustClose(t, l)
	recs := genRecords(7, 1, 300, 3000)
	recs[3].Payload = make([]byte, seqReadBytes+100) // larger than the read-ahead
	recs[4].Payload = make([]byte, seqReadBytes/4+1)
	recs[5].Payload = nil
	r := l.NewReader(1)
	defer r.Close()
	var got []Record
	for lo := 0; lo < len(recs); lo += 37 {
		hi := min(lo+37, len(recs))
		appendAll(t, l, recs[lo:hi])
		got = append(got, readUpTo(t, r, math.MaxUint64, 10<<10)...)
		if r.Next() != uint64(hi)+1 {
			t.Fatalf("after appending up to %d: reader at %d", hi, r.Next())
		}
	}
	// Read again with a fresh reader in one go, and compare both.
	r2 := l.NewReader(0)
	defer r2.Close()
	checkRecords(t, got, recs)
	checkRecords(t, readUpTo(t, r2, math.MaxUint64, math.MaxInt64), recs)

	// The position is the next frame's offset in the file holding it.
	if r.f == nil || r.pos != r.next {
		t.Fatalf("reader not positioned: f %v pos %d next %d", r.f, r.pos, r.next)
	}
	starts := frameStarts(t, r.path)
	if want := starts[len(starts)-1]; r.off <= want {
		t.Fatalf("reader offset %d, want past the last frame at %d", r.off, want)
	}
}

func TestReaderResumesAtPosition(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 1<<20))
	defer mustClose(t, l)
	recs := genRecords(3, 1, 100, 2000)
	appendAll(t, l, recs)
	r := l.NewReader(10)
	defer r.Close()
	var got []Record
	var err error
	// maxBytes 1: one record per call; each call resumes where the last
	// stopped, at the frame's offset.
	starts := frameStarts(t, filepath.Join(dir, segFiles(t, dir)[0]))
	for i := 10; i <= 20; i++ {
		n := len(got)
		got, err = r.Read(got, math.MaxUint64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n+1 {
			t.Fatalf("read %d records, want 1", len(got)-n)
		}
		if r.off != starts[i] || r.pos != uint64(i+1) {
			t.Fatalf("after lsn %d: offset %d pos %d, want %d, %d", i, r.off, r.pos, starts[i], i+1)
		}
	}
	checkRecords(t, got, recs[9:20])
	// last bounds the read.
	got, err = r.Read(nil, 25, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, recs[20:25])
	// Skip walks headers only and resumes after them.
	r.Skip(60)
	r.Skip(40) // backwards: ignored
	got, err = r.Read(nil, 62, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, recs[59:62])
	if r.off != starts[62] {
		t.Fatalf("offset %d after lsn 62, want %d", r.off, starts[62])
	}
	// Nothing past the end.
	r.Skip(101)
	got, err = r.Read(nil, math.MaxUint64, math.MaxInt64)
	if err != nil || len(got) != 0 {
		t.Fatalf("past the end: %d records, %v", len(got), err)
	}
}

func TestReaderTruncatedAndRewritten(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 8<<10))
	defer mustClose(t, l)
	recs := genRecords(5, 1, 100, 1000)
	appendAll(t, l, recs)

	r := l.NewReader(1)
	defer r.Close()
	if err := l.TruncateFront(50); err != nil {
		t.Fatal(err)
	}
	_, err := r.Read(nil, math.MaxUint64, math.MaxInt64)
	wantErrIs(t, err, ErrTruncated)

	first := l.FirstLSN()
	r = l.NewReader(first)
	got := readUpTo(t, r, 90, 1<<10)
	checkRecords(t, got, recs[first-1:90])
	if err := l.TruncateBack(95); err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(nil, math.MaxUint64, math.MaxInt64)
	wantErrIs(t, err, ErrTruncated)
	r.Close()
}

func TestReaderCorrupt(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 1<<20))
	defer mustClose(t, l)
	recs := genRecords(9, 1, 20, 500)
	for i := range recs {
		if len(recs[i].Payload) == 0 {
			recs[i].Payload = []byte{1}
		}
	}
	appendAll(t, l, recs)
	path := filepath.Join(dir, segFiles(t, dir)[0])
	starts := frameStarts(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	off := starts[12] + frameHeaderSize
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := l.NewReader(1)
	defer r.Close()
	got, err := r.Read(nil, math.MaxUint64, math.MaxInt64)
	wantErrIs(t, err, ErrCorrupt)
	checkRecords(t, got, recs[:12])
}

// TestStartSync: an fsync started without waiting makes the records
// durable by itself.
func TestStartSync(t *testing.T) {
	l := mustOpen(t, testOpts(t.TempDir(), 0))
	defer mustClose(t, l)
	appendAll(t, l, genRecords(1, 1, 5, 100))
	l.StartSync()
	deadline := time.Now().Add(10 * time.Second)
	for l.DurableLSN() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("durable %d after StartSync, want 5", l.DurableLSN())
		}
		time.Sleep(time.Millisecond)
	}
}
