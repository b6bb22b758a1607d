package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildLog writes recs into a fresh log in a new temp dir and closes it.
func buildLog(t testing.TB, segmentBytes int64, recs []Record) string {
	t.Helper()
	dir := t.(interface{ TempDir() string }).TempDir()
	l := mustOpen(t, testOpts(dir, segmentBytes))
	appendAll(t, l, recs)
	mustClose(t, l)
	return dir
}

// TestTornTail truncates the last file at every offset inside its last frame:
// recovery keeps exactly the earlier records, says "torn tail", and appends
// continue at the right LSN.
func TestTornTail(t *testing.T) {
	recs := genRecords(20, 1, 12, 300)
	recs[len(recs)-1].Payload = make([]byte, 40)
	src := buildLog(t, 1500, recs)
	files := segFiles(t, src)
	lastName := files[len(files)-1]
	offs := frameStarts(t, filepath.Join(src, lastName))
	start := offs[len(offs)-1]
	end := start + frameHeaderSize + 40

	for cut := start; cut < end; cut++ {
		dir := t.TempDir()
		copyDir(t, src, dir)
		if err := os.Truncate(filepath.Join(dir, lastName), cut); err != nil {
			t.Fatal(err)
		}
		l := mustOpen(t, testOpts(dir, 1500))
		info := l.Recovery()
		want := int64(0)
		if cut > start {
			want = cut - start
		}
		if cut == start {
			// A cut at a frame boundary is a clean log one record shorter.
			if info.Reason != "" {
				t.Fatalf("cut %d: Reason %q", cut, info.Reason)
			}
		} else if info.Reason != ReasonTornTail || info.TruncatedBytes != want || len(info.RemovedFiles) != 0 {
			t.Fatalf("cut %d: Recovery %+v", cut, info)
		}
		if info.LastLSN != 11 || l.LastLSN() != 11 {
			t.Fatalf("cut %d: LastLSN %d/%d", cut, info.LastLSN, l.LastLSN())
		}
		checkRecords(t, readAll(t, l, 1), recs[:11])
		if lsn, err := l.Append(5, 5, []byte("next")); err != nil || lsn != 12 {
			t.Fatalf("cut %d: Append = %d, %v", cut, lsn, err)
		}
		mustClose(t, l)
		l = mustOpen(t, testOpts(dir, 1500))
		if r := l.Recovery(); r.Reason != "" || r.LastLSN != 12 {
			t.Fatalf("cut %d: second reopen %+v", cut, r)
		}
		mustClose(t, l)
	}
}

// TestTornTailZeros: zeros after the last frame (a crash during an extending
// write) are a torn tail, not corruption.
func TestTornTailZeros(t *testing.T) {
	recs := genRecords(21, 1, 5, 100)
	dir := buildLog(t, 0, recs)
	path := filepath.Join(dir, segFiles(t, dir)[0])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := mustOpen(t, testOpts(dir, 0))
	defer mustClose(t, l)
	if r := l.Recovery(); r.Reason != ReasonTornTail || r.TruncatedBytes != 4096 || r.Records != 5 {
		t.Fatalf("Recovery %+v", r)
	}
}

// TestTornHeader: a last file cut inside its header (crash while creating it)
// is a torn tail; the file is moved to corrupt/.
func TestTornHeader(t *testing.T) {
	recs := genRecords(22, 1, 30, 200)
	src := buildLog(t, 1024, recs)
	files := segFiles(t, src)
	last := files[len(files)-1]
	firstOfLast, _ := parseSegName(last)
	for cut := int64(0); cut < segHeaderSize; cut++ {
		dir := t.TempDir()
		copyDir(t, src, dir)
		if err := os.Truncate(filepath.Join(dir, last), cut); err != nil {
			t.Fatal(err)
		}
		l := mustOpen(t, testOpts(dir, 1024))
		r := l.Recovery()
		if r.Reason != ReasonTornTail || len(r.RemovedFiles) != 1 || r.LastLSN != firstOfLast-1 {
			t.Fatalf("cut %d: Recovery %+v", cut, r)
		}
		if _, err := os.Stat(filepath.Join(dir, corruptDir, last)); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if lsn, err := l.Append(1, 1, nil); err != nil || lsn != firstOfLast {
			t.Fatalf("cut %d: Append = %d, %v", cut, lsn, err)
		}
		mustClose(t, l)
	}
}

// TestCorruptMiddle flips a byte in a record of a middle file: the log is cut
// there, later files go to corrupt/, and the reason names the spot.
func TestCorruptMiddle(t *testing.T) {
	recs := genRecords(23, 1, 100, 200)
	src := buildLog(t, 1024, recs)
	files := segFiles(t, src)
	if len(files) < 5 {
		t.Fatalf("only %d files", len(files))
	}
	mid := files[len(files)/2]
	midFirst, _ := parseSegName(mid)
	offs := frameStarts(t, filepath.Join(src, mid))

	for _, c := range []struct {
		name    string
		off     int64  // byte to flip
		lastLSN uint64 // expected after recovery
		why     string
	}{
		{"payload", offs[1] + frameHeaderSize, midFirst, "crc"},
		{"crc", offs[1] + 5, midFirst, "crc"},
		{"lsn", offs[1] + 17, midFirst, "crc"},
		{"length", offs[1] + 3, midFirst, "length"},
		{"header", 9, midFirst - 1, "segment header"},
		{"first frame", offs[0] + 30, midFirst - 1, "crc"},
	} {
		dir := t.TempDir()
		copyDir(t, src, dir)
		path := filepath.Join(dir, mid)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[c.off] ^= 0x40
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l := mustOpen(t, testOpts(dir, 1024))
		r := l.Recovery()
		if !strings.HasPrefix(r.Reason, "corrupt record at "+mid+":") || !strings.Contains(r.Reason, c.why) {
			t.Fatalf("%s: Reason %q", c.name, r.Reason)
		}
		if r.LastLSN != c.lastLSN || l.LastLSN() != c.lastLSN {
			t.Fatalf("%s: LastLSN %d, want %d", c.name, r.LastLSN, c.lastLSN)
		}
		nLater := len(files) - 1 - indexOf(files, mid)
		if c.name == "header" {
			nLater++
		}
		if len(r.RemovedFiles) != nLater {
			t.Fatalf("%s: removed %v, want %d files", c.name, r.RemovedFiles, nLater)
		}
		for _, p := range r.RemovedFiles {
			if filepath.Dir(p) != filepath.Join(dir, corruptDir) {
				t.Fatalf("%s: removed file %s not in corrupt/", c.name, p)
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatal(err)
			}
		}
		if r.TruncatedBytes <= 0 {
			t.Fatalf("%s: TruncatedBytes %d", c.name, r.TruncatedBytes)
		}
		checkRecords(t, readAll(t, l, 1), recs[:c.lastLSN])
		if lsn, err := l.Append(1, 1, nil); err != nil || lsn != c.lastLSN+1 {
			t.Fatalf("%s: Append = %d, %v", c.name, lsn, err)
		}
		mustClose(t, l)
		l = mustOpen(t, testOpts(dir, 1024))
		if r := l.Recovery(); r.Reason != "" || r.LastLSN != c.lastLSN+1 {
			t.Fatalf("%s: reopen %+v", c.name, r)
		}
		mustClose(t, l)
	}
}

// TestIncompleteFrameInMiddleFile: a frame running past the end of a file
// that is not the last is corruption, not a torn tail.
func TestIncompleteFrameInMiddleFile(t *testing.T) {
	recs := genRecords(24, 1, 60, 200)
	dir := buildLog(t, 1024, recs)
	files := segFiles(t, dir)
	mid := files[1]
	path := filepath.Join(dir, mid)
	offs := frameStarts(t, path)
	if err := os.Truncate(path, offs[len(offs)-1]+3); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, testOpts(dir, 1024))
	defer mustClose(t, l)
	r := l.Recovery()
	if !strings.HasPrefix(r.Reason, "corrupt record at "+mid) || len(r.RemovedFiles) != len(files)-2 {
		t.Fatalf("Recovery %+v", r)
	}
}

// TestLSNGapBetweenFiles: a missing middle file is detected by the next
// file's header and cut.
func TestLSNGapBetweenFiles(t *testing.T) {
	recs := genRecords(25, 1, 60, 200)
	dir := buildLog(t, 1024, recs)
	files := segFiles(t, dir)
	if err := os.Remove(filepath.Join(dir, files[2])); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, testOpts(dir, 1024))
	defer mustClose(t, l)
	r := l.Recovery()
	want, _ := parseSegName(files[2])
	if !strings.HasPrefix(r.Reason, "corrupt record at "+files[3]+":0: segment header") || r.LastLSN != want-1 {
		t.Fatalf("Recovery %+v", r)
	}
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}
