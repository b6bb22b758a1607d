package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// quietLogger discards log output in tests.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testOpts returns options for dir with a quiet logger and small segments.
func testOpts(dir string, segmentBytes int64) Options {
	o := DefaultOptions(dir)
	o.SegmentBytes = segmentBytes
	o.Logger = quietLogger
	return o
}

func mustOpen(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// genRecords returns n records with LSNs first.. and seeded random
// epochs, types and payloads of up to maxPayload bytes.
func genRecords(seed int64, first uint64, n, maxPayload int) []Record {
	rng := rand.New(rand.NewSource(seed))
	recs := make([]Record, n)
	epoch := uint64(1)
	for i := range recs {
		if rng.Intn(10) == 0 {
			epoch++
		}
		p := make([]byte, rng.Intn(maxPayload+1))
		rng.Read(p)
		recs[i] = Record{Epoch: epoch, LSN: first + uint64(i), Type: RecordType(rng.Intn(256)), Payload: p}
	}
	return recs
}

// appendAll appends recs with Append and checks the assigned LSNs.
func appendAll(t testing.TB, l *Log, recs []Record) {
	t.Helper()
	for _, r := range recs {
		lsn, err := l.Append(r.Epoch, r.Type, r.Payload)
		if err != nil {
			t.Fatalf("Append lsn %d: %v", r.LSN, err)
		}
		if lsn != r.LSN {
			t.Fatalf("Append got lsn %d, want %d", lsn, r.LSN)
		}
	}
}

// readAll returns every record with LSN >= from.
func readAll(t testing.TB, l *Log, from uint64) []Record {
	t.Helper()
	var got []Record
	if err := l.Iterate(from, func(r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Iterate(%d): %v", from, err)
	}
	return got
}

// diffRecords describes the first difference between got and want, or "".
func diffRecords(got, want []Record) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if g.Epoch != w.Epoch || g.LSN != w.LSN || g.Type != w.Type || !bytes.Equal(g.Payload, w.Payload) {
			return fmt.Sprintf("record %d: got {epoch %d lsn %d type %d len %d}, want {epoch %d lsn %d type %d len %d}",
				i, g.Epoch, g.LSN, g.Type, len(g.Payload), w.Epoch, w.LSN, w.Type, len(w.Payload))
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d", len(got), len(want))
	}
	return ""
}

func checkRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if d := diffRecords(got, want); d != "" {
		t.Fatal(d)
	}
}

// segFiles returns the segment file names in dir, sorted.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if _, ok := parseSegName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// frameStarts returns the byte offsets of the frames in a segment file.
func frameStarts(t testing.TB, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(segHeaderSize); off < int64(len(b)); {
		offs = append(offs, off)
		h := decodeFrameHeader(b[off:])
		off += frameHeaderSize + int64(h.length)
	}
	return offs
}

// copyDir copies the regular files of src (not subdirectories) into dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
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
}

func wantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want errors.Is %v", err, target)
	}
}
