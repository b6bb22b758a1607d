package wal

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// golden is a valid multi-file log kept in memory, built once.
var golden struct {
	once  sync.Once
	recs  []Record
	names []string
	files [][]byte
	err   error
}

const goldenSegmentBytes = 600

func loadGolden(t testing.TB) {
	golden.once.Do(func() {
		dir, err := os.MkdirTemp("", "wal-golden-")
		if err != nil {
			golden.err = err
			return
		}
		defer os.RemoveAll(dir)
		golden.recs = genRecords(42, 1, 40, 150)
		l, err := Open(testOpts(dir, goldenSegmentBytes))
		if err != nil {
			golden.err = err
			return
		}
		for _, r := range golden.recs {
			if _, err := l.Append(r.Epoch, r.Type, r.Payload); err != nil {
				golden.err = err
				return
			}
		}
		if err := l.Close(); err != nil {
			golden.err = err
			return
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if _, ok := parseSegName(e.Name()); !ok {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				golden.err = err
				return
			}
			golden.names = append(golden.names, e.Name())
			golden.files = append(golden.files, b)
		}
	})
	if golden.err != nil {
		t.Fatal(golden.err)
	}
}

// FuzzRecover damages a valid log with fuzz-chosen byte flips and
// truncations. Open must not panic, must recover a prefix of the original
// records, must let appends continue at the next LSN, and a second Open must
// find a clean log.
//
// ops is read as 4-byte instructions: kind (even = flip, odd = truncate),
// file index, and a 16-bit little-endian offset (mod file size); a flip XORs
// the byte with kind|1.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 30, 0})                // flip in the first file's first frame
	f.Add([]byte{2, 1, 5, 0})                 // flip in a middle file's header
	f.Add([]byte{1, 255, 100, 0})             // truncate the last file
	f.Add([]byte{1, 2, 10, 0})                // truncate a middle file inside its header
	f.Add([]byte{4, 3, 0x2c, 1, 1, 3, 60, 0}) // flip + truncate
	f.Fuzz(func(t *testing.T, ops []byte) {
		loadGolden(t)
		files := make([][]byte, len(golden.files))
		for i, b := range golden.files {
			files[i] = append([]byte(nil), b...)
		}
		for ; len(ops) >= 4; ops = ops[4:] {
			i := int(ops[1]) % len(files)
			if len(files[i]) == 0 {
				continue
			}
			off := int(binary.LittleEndian.Uint16(ops[2:4])) % len(files[i])
			if ops[0]%2 == 0 {
				files[i][off] ^= ops[0] | 1
			} else {
				files[i] = files[i][:off]
			}
		}
		dir := t.TempDir()
		for i, name := range golden.names {
			if err := os.WriteFile(filepath.Join(dir, name), files[i], 0o644); err != nil {
				t.Fatal(err)
			}
		}

		o := testOpts(dir, goldenSegmentBytes)
		l, err := Open(o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		info := l.Recovery()
		got := readAll(t, l, 1)
		if uint64(len(got)) != l.LastLSN() || info.Records != len(got) {
			t.Fatalf("LastLSN %d, %d records read, info %+v", l.LastLSN(), len(got), info)
		}
		if d := diffRecords(got, golden.recs[:len(got)]); d != "" {
			t.Fatalf("not a prefix: %s", d)
		}
		next := uint64(len(got)) + 1
		if lsn, err := l.Append(7, 7, []byte("after")); err != nil || lsn != next {
			t.Fatalf("Append = %d, %v; want %d", lsn, err, next)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(o)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer l.Close()
		if r := l.Recovery(); r.Reason != "" || r.Records != int(next) {
			t.Fatalf("second Open not clean: %+v", r)
		}
	})
}
