package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the gzipped IDX files (train-images-idx3-ubyte.gz: 60000 x 28 x 28,
// t10k-images-idx3-ubyte.gz: 10000 x 28 x 28).
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTInstall is the command that installs the dataset.
const FashionMNISTInstall = "apt-get install dataset-fashion-mnist"

// ErrNoFashionMNIST reports that the Debian package's files are missing.
var ErrNoFashionMNIST = errors.New("dataset: Fashion-MNIST not found")

// GroundTruthK is how many exact neighbours per query PrepareFashionMNIST
// stores in groundtruth.ivecs.
const GroundTruthK = 100

// FashionMNISTFiles returns the training and test image files in src
// (FashionMNISTDir when ""), or an error wrapping ErrNoFashionMNIST that
// names FashionMNISTInstall.
func FashionMNISTFiles(src string) (train, test string, err error) {
	if src == "" {
		src = FashionMNISTDir
	}
	train = filepath.Join(src, "train-images-idx3-ubyte.gz")
	test = filepath.Join(src, "t10k-images-idx3-ubyte.gz")
	for _, p := range []string{train, test} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%w: %s is missing (install it with: %s)", ErrNoFashionMNIST, p, FashionMNISTInstall)
		}
	}
	return train, test, nil
}

// DefaultCacheDir is $XDG_CACHE_HOME/tandem, or ~/.cache/tandem.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("dataset: no cache directory (pass one): %w", err)
	}
	return filepath.Join(d, "tandem"), nil
}

// cacheMeta is the stamp of a prepared directory, written last: the
// directory is reused only when the stamp matches the source files.
type cacheMeta struct {
	Version int         `json:"version"`
	K       int         `json:"groundtruth_k"`
	Sources []cacheFile `json:"sources"`
}

type cacheFile struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_unix_nano"`
}

const cacheVersion = 1

// PrepareFashionMNIST converts Debian's Fashion-MNIST (IDX files in src,
// FashionMNISTDir when "") once into cacheDir/fashion-mnist as TEXMEX
// files — base.fvecs (the 60000 training images), query.fvecs (the 10000
// test images), pixel values 0..255 as float32, and groundtruth.ivecs (the
// GroundTruthK exact L2 neighbours of each query, by ExactKNN) — and
// returns that directory. A directory whose stamp (meta.json) matches the
// source files' sizes and modification times is reused as it is. Each file
// is written to a temporary name and renamed, the stamp last, so an
// interrupted run leaves no stamp and is redone. log, if non-nil, gets
// progress lines.
func PrepareFashionMNIST(cacheDir, src string, log func(format string, args ...any)) (string, error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	train, test, err := FashionMNISTFiles(src)
	if err != nil {
		return "", err
	}
	want := cacheMeta{Version: cacheVersion, K: GroundTruthK}
	for _, p := range []string{train, test} {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("dataset: %w", err)
		}
		want.Sources = append(want.Sources, cacheFile{Path: p, Size: st.Size(), ModTime: st.ModTime().UnixNano()})
	}
	dir := filepath.Join(cacheDir, "fashion-mnist")
	if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
		var got cacheMeta
		if json.Unmarshal(b, &got) == nil && sameMeta(got, want) {
			log("fashion-mnist: using the cache %s", dir)
			return dir, nil
		}
		log("fashion-mnist: cache %s is stale; converting again", dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dataset: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("dataset: cache: %w", err)
	}
	// A stale stamp must not outlive a partial rewrite.
	if err := os.Remove(filepath.Join(dir, "meta.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dataset: %w", err)
	}
	log("fashion-mnist: converting %s into %s", filepath.Dir(train), dir)
	base, err := ReadIDXImages(train, 0)
	if err != nil {
		return "", err
	}
	query, err := ReadIDXImages(test, 0)
	if err != nil {
		return "", err
	}
	if base.Dim != query.Dim {
		return "", fmt.Errorf("dataset: %s has %d pixels per image, %s %d", train, base.Dim, test, query.Dim)
	}
	if err := writeAtomic(filepath.Join(dir, "base.fvecs"), func(p string) error { return WriteFvecs(p, base) }); err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(dir, "query.fvecs"), func(p string) error { return WriteFvecs(p, query) }); err != nil {
		return "", err
	}
	log("fashion-mnist: base %d x %d, queries %d; exact ground truth (top %d, brute force)...", base.N(), base.Dim, query.N(), GroundTruthK)
	t0 := time.Now()
	last := t0
	gt := ExactKNN(distance.L2, base, query, GroundTruthK, 0, func(done, total int) {
		if now := time.Now(); now.Sub(last) >= 5*time.Second || done == total {
			last = now
			el := now.Sub(t0)
			eta := time.Duration(float64(el) * float64(total-done) / float64(done))
			log("fashion-mnist: ground truth %d/%d queries (%.0f%%), %s elapsed, ~%s left",
				done, total, 100*float64(done)/float64(total), el.Round(time.Second), eta.Round(time.Second))
		}
	})
	if err := writeAtomic(filepath.Join(dir, "groundtruth.ivecs"), func(p string) error { return WriteIvecs(p, gt) }); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(want, "", "  ")
	if err := writeAtomic(filepath.Join(dir, "meta.json"), func(p string) error { return os.WriteFile(p, b, 0o644) }); err != nil {
		return "", err
	}
	log("fashion-mnist: ready in %s (%s)", dir, time.Since(t0).Round(time.Second))
	return dir, nil
}

func sameMeta(a, b cacheMeta) bool {
	if a.Version != b.Version || a.K != b.K || len(a.Sources) != len(b.Sources) {
		return false
	}
	for i := range a.Sources {
		if a.Sources[i] != b.Sources[i] {
			return false
		}
	}
	return true
}

// writeAtomic writes path through write(tmp) and a rename.
func writeAtomic(path string, write func(tmp string) error) error {
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}
