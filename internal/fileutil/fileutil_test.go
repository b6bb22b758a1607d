package fileutil

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestCastagnoliTableIsCRC32C(t *testing.T) {
	// RFC 3720 B.4: CRC32C of 32 zero bytes.
	if got := crc32.Checksum(make([]byte, 32), CastagnoliTable); got != 0x8a9136aa {
		t.Fatalf("crc32c(zeros) = %#x, want 0x8a9136aa", got)
	}
}

func TestHashWriterReaderAgree(t *testing.T) {
	var buf bytes.Buffer
	w := &HashWriter{W: &buf, Hash: NewCRC32C()}
	data := []byte("tandem persisted bytes")
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if w.N != int64(len(data)) {
		t.Fatalf("N = %d, want %d", w.N, len(data))
	}
	r := &HashReader{R: &buf, Hash: NewCRC32C()}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if r.Hash.Sum32() != w.Hash.Sum32() || w.Hash.Sum32() != crc32.Checksum(data, CastagnoliTable) {
		t.Fatalf("checksums differ")
	}
}

func TestReadWords(t *testing.T) {
	const n = 300_000 // more than one read step of either width
	var b []byte
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
	}
	u32, err := ReadU32s(bytes.NewReader(b), n)
	if err != nil || len(u32) != n || u32[n-1] != n-1 {
		t.Fatalf("ReadU32s: len %d err %v", len(u32), err)
	}
	u64, err := ReadU64s(bytes.NewReader(b), n/2)
	if err != nil || len(u64) != n/2 || u64[1] != 2|3<<32 {
		t.Fatalf("ReadU64s: len %d err %v", len(u64), err)
	}
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"ReadFull empty", func() error { _, err := ReadFull(bytes.NewReader(nil), 1); return err }},
		{"ReadFull short", func() error { _, err := ReadFull(bytes.NewReader(b[:3]), 4); return err }},
		{"ReadU32s huge count", func() error { _, err := ReadU32s(bytes.NewReader(b), 1<<40); return err }},
		{"ReadU64s short", func() error { _, err := ReadU64s(bytes.NewReader(b[:12]), 2); return err }},
	} {
		if err := tc.f(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v, want io.ErrUnexpectedEOF", tc.name, err)
		}
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
}
