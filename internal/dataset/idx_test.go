package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func idxBytes(n, rows, cols int) []byte {
	var b bytes.Buffer
	for _, v := range []uint32{0x803, uint32(n), uint32(rows), uint32(cols)} {
		binary.Write(&b, binary.BigEndian, v)
	}
	for i := 0; i < n*rows*cols; i++ {
		b.WriteByte(byte(i % 256))
	}
	return b.Bytes()
}

func TestReadIDXImages(t *testing.T) {
	dir := t.TempDir()
	raw := idxBytes(5, 2, 3)
	plain := filepath.Join(dir, "imgs-idx3-ubyte")
	if err := os.WriteFile(plain, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	zipped := filepath.Join(dir, "imgs-idx3-ubyte.gz")
	if err := os.WriteFile(zipped, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, zipped} {
		v, err := ReadIDXImages(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if v.Dim != 6 || v.N() != 5 || v.Row(1)[0] != 6 || v.Row(4)[5] != 29 {
			t.Fatalf("%s: dim %d n %d rows %v", p, v.Dim, v.N(), v.Data)
		}
		if v, err := ReadIDXImages(p, 2); err != nil || v.N() != 2 {
			t.Fatalf("limit 2: %v %v", v, err)
		}
	}
	bad := append([]byte(nil), raw...)
	bad[3] = 0x01 // labels magic
	os.WriteFile(plain, bad, 0o644)
	if _, err := ReadIDXImages(plain, 0); err == nil {
		t.Fatal("wrong magic accepted")
	}
	os.WriteFile(plain, raw[:len(raw)-1], 0o644)
	if _, err := ReadIDXImages(plain, 0); err == nil {
		t.Fatal("truncated file accepted")
	}
}
