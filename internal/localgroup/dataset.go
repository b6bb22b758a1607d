package localgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-db/tandem/internal/dataset"
)

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
//     package (dataset.FashionMNISTDir), or else base.fvecs in dir;
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
		idx := filepath.Join(dataset.FashionMNISTDir, "train-images-idx3-ubyte.gz")
		if _, err := os.Stat(idx); err == nil {
			v, err := dataset.ReadIDXImages(idx, rows)
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
			return nil, Source{}, fmt.Errorf("fashion-mnist: neither %s (%s) nor %s: %w", idx, dataset.FashionMNISTInstall, fv, fs.ErrNotExist)
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
			v, err = dataset.ReadIDXImages(spec, rows)
		}
		return v, Source{Name: strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec)), Path: spec}, err
	}
}
