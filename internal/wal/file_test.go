package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFileWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	recs := genRecords(1, 17, 50, 3000)
	fw, err := CreateFile(path, 17)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := fw.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Append(recs[0]); !errors.Is(err, ErrLSNGap) {
		t.Fatalf("out-of-order append: %v", err)
	}
	fw.err = nil
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var got []Record
	if err := ReadFile(path, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	for i := range got {
		if got[i].LSN != recs[i].LSN || got[i].Epoch != recs[i].Epoch || got[i].Type != recs[i].Type || string(got[i].Payload) != string(recs[i].Payload) {
			t.Fatalf("record %d differs", i)
		}
	}
	if _, err := CreateFile(path, 1); err == nil {
		t.Fatal("CreateFile overwrote a file")
	}
	// A flipped byte or a torn tail is reported after the good records.
	b, _ := os.ReadFile(path)
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)-1] ^= 1
	for _, c := range [][]byte{flipped, b[:len(b)-1]} {
		if err := os.WriteFile(path, c, 0o644); err != nil {
			t.Fatal(err)
		}
		n := 0
		err := ReadFile(path, func(Record) error { n++; return nil })
		if !errors.Is(err, ErrCorrupt) || n != len(recs)-1 {
			t.Fatalf("corrupt file: %d records, err %v", n, err)
		}
	}
}

func TestResetAndRetainBound(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOpts(dir, 1024))
	recs := genRecords(2, 1, 200, 200)
	appendAll(t, l, recs)
	if got := l.RetainBound(1 << 30); got != 0 {
		t.Fatalf("RetainBound(1 GiB) = %d, want 0", got)
	}
	upTo := l.RetainBound(4096)
	if upTo == 0 || upTo >= 200 {
		t.Fatalf("RetainBound(4096) = %d", upTo)
	}
	if err := l.TruncateFront(upTo); err != nil {
		t.Fatal(err)
	}
	if l.SizeBytes() > 4096 || l.FirstLSN() != upTo+1 {
		t.Fatalf("after truncation: %d bytes, first lsn %d (bound %d)", l.SizeBytes(), l.FirstLSN(), upTo)
	}
	if err := l.Reset(1001); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 0 || l.LastLSN() != 1000 {
		t.Fatalf("after Reset: first %d last %d", l.FirstLSN(), l.LastLSN())
	}
	appendAll(t, l, genRecords(3, 1001, 3, 10))
	mustClose(t, l)
	l = mustOpen(t, testOpts(dir, 1024))
	defer mustClose(t, l)
	if l.FirstLSN() != 1001 || l.LastLSN() != 1003 {
		t.Fatalf("after reopen: first %d last %d", l.FirstLSN(), l.LastLSN())
	}
}
