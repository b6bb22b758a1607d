package localgroup

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-db/tandem/internal/dataset"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the gzipped IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// ReadIDXImages reads an IDX3 image file (gzipped when the name ends in
// .gz; magic 0x00000803, big-endian counts, then n*rows*cols uint8
// pixels) as n vectors of rows*cols float32 pixel values 0..255 (the same
// encoding as prepare_fashion_mnist.py's base.fvecs). limit > 0 reads at
// most limit images.
func ReadIDXImages(path string, limit int) (*dataset.Vectors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("idx: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return decodeIDXImages(r, limit, path)
}

func decodeIDXImages(r io.Reader, limit int, name string) (*dataset.Vectors, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("idx: %s: header: %w", name, err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	n := int(binary.BigEndian.Uint32(hdr[4:]))
	rows := int(binary.BigEndian.Uint32(hdr[8:]))
	cols := int(binary.BigEndian.Uint32(hdr[12:]))
	if magic != 0x00000803 {
		return nil, fmt.Errorf("idx: %s: magic 0x%08x, want 0x00000803 (unsigned bytes, 3 dimensions)", name, magic)
	}
	dim := rows * cols
	if dim <= 0 || dim > 1<<20 || n < 0 {
		return nil, fmt.Errorf("idx: %s: bad shape %d x %d x %d", name, n, rows, cols)
	}
	if limit > 0 && limit < n {
		n = limit
	}
	buf := make([]byte, n*dim)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("idx: %s: %d images of %d bytes: %w", name, n, dim, err)
	}
	v := &dataset.Vectors{Dim: dim, Data: make([]float32, len(buf))}
	for i, b := range buf {
		v.Data[i] = float32(b)
	}
	return v, nil
}

// Source names where vectors came from.
type Source struct {
	Name string // "fashion-mnist" or "random"
	Path string // file read, "" for generated
}

func (s Source) String() string {
	if s.Path == "" {
		return s.Name
	}
	return s.Name + " (" + s.Path + ")"
}

// LoadVectors returns rows vectors (rows <= 0: the whole file) of the
// dataset named by spec:
//
//   - "fashion-mnist": the training images of Debian's dataset-fashion-mnist
//     package (FashionMNISTDir), or else base.fvecs in dir;
//   - "auto": like fashion-mnist, falling back to random when neither file
//     exists;
//   - "random": seeded uniform vectors of dimension dim (rows <= 0: 10000);
//   - a path to an .fvecs file or an IDX3 image file (.gz or not).
func LoadVectors(spec, dir string, rows, dim int) (*dataset.Vectors, Source, error) {
	switch spec {
	case "random":
		if rows <= 0 {
			rows = 10000
		}
		if dim <= 0 {
			dim = 128
		}
		return dataset.Random(rows, dim, 1), Source{Name: "random"}, nil
	case "fashion-mnist", "auto", "":
		idx := filepath.Join(FashionMNISTDir, "train-images-idx3-ubyte.gz")
		if _, err := os.Stat(idx); err == nil {
			v, err := ReadIDXImages(idx, rows)
			return v, Source{Name: "fashion-mnist", Path: idx}, err
		}
		if dir == "" {
			dir = filepath.Join(".data", "fashion-mnist")
		}
		fv := filepath.Join(dir, "base.fvecs")
		if _, err := os.Stat(fv); err == nil {
			v, err := dataset.ReadFvecs(fv, rows)
			return v, Source{Name: "fashion-mnist", Path: fv}, err
		}
		if spec == "fashion-mnist" {
			return nil, Source{}, fmt.Errorf("fashion-mnist: neither %s (apt-get install dataset-fashion-mnist) nor %s: %w", idx, fv, fs.ErrNotExist)
		}
		return LoadVectors("random", "", rows, dim)
	default:
		if _, err := os.Stat(spec); errors.Is(err, fs.ErrNotExist) {
			return nil, Source{}, fmt.Errorf("dataset %q: not random, auto, fashion-mnist or an existing file", spec)
		}
		var v *dataset.Vectors
		var err error
		if strings.HasSuffix(spec, ".fvecs") {
			v, err = dataset.ReadFvecs(spec, rows)
		} else {
			v, err = ReadIDXImages(spec, rows)
		}
		return v, Source{Name: strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec)), Path: spec}, err
	}
}
