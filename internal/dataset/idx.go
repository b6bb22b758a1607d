package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadIDXImages reads an IDX3 image file (gzipped when the name ends in
// .gz; magic 0x00000803, big-endian counts, then n*rows*cols uint8
// pixels) as n vectors of rows*cols float32 pixel values 0..255. limit > 0
// reads at most limit images.
func ReadIDXImages(path string, limit int) (*Vectors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: idx: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("dataset: idx: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return decodeIDXImages(r, limit, path)
}

func decodeIDXImages(r io.Reader, limit int, name string) (*Vectors, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("dataset: idx: %s: header: %w", name, err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	rows := int(binary.BigEndian.Uint32(hdr[8:]))
	cols := int(binary.BigEndian.Uint32(hdr[12:]))
	if magic != 0x00000803 {
		return nil, fmt.Errorf("dataset: idx: %s: magic 0x%08x, want 0x00000803 (unsigned bytes, 3 dimensions)", name, magic)
	}
	dim := rows * cols
	if dim <= 0 || dim > 1<<20 || n < 0 || n > 1<<30/dim {
		return nil, fmt.Errorf("dataset: idx: %s: bad shape %d x %d x %d", name, n, rows, cols)
	}
	if limit > 0 && limit < n {
		n = limit
	}
	buf := make([]byte, n*dim)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("dataset: idx: %s: %d images of %d bytes: %w", name, n, dim, err)
	}
	v := &Vectors{Dim: dim, Data: make([]float32, len(buf))}
	for i, b := range buf {
		v.Data[i] = float32(b)
	}
	return v, nil
}
