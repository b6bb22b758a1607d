package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/index/distance"
)

// benchLog prints a progress line on stderr (stdout carries the results).
func benchLog(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// benchCacheDir is --cache-dir, or dataset.DefaultCacheDir() when "".
func benchCacheDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return dataset.DefaultCacheDir()
}

// fashionMNISTDir returns a directory with base.fvecs, query.fvecs and
// groundtruth.ivecs: datasetDir if given, else Fashion-MNIST from Debian's
// dataset-fashion-mnist package converted into the cache directory (once;
// later runs reuse it).
func fashionMNISTDir(datasetDir, cacheDir string) (string, error) {
	if datasetDir != "" {
		return datasetDir, nil
	}
	cache, err := benchCacheDir(cacheDir)
	if err != nil {
		return "", err
	}
	return dataset.PrepareFashionMNIST(cache, "", benchLog)
}

// benchData is the data of `bench search`: base vectors, queries and, for
// recall, the exact top k of each query (filled by groundTruth).
type benchData struct {
	base, qs *dataset.Vectors
	gt       [][]int32 // per query, row numbers = primary keys; nil until known
	gtFile   string    // groundtruth.ivecs valid for base and k, or ""
}

// loadBenchData returns the vectors of --dataset random (seeded uniform
// vectors) or fashion-mnist (the first n training images, the first
// `queries` test images).
func loadBenchData(name, dir, cacheDir string, n, dim, queries int) (*benchData, error) {
	switch name {
	case "random":
		return &benchData{base: dataset.Random(n, dim, 1), qs: dataset.Random(queries, dim, 2)}, nil
	case "fashion-mnist":
		d, err := fashionMNISTDir(dir, cacheDir)
		if err != nil {
			return nil, err
		}
		base, err := dataset.ReadFvecs(filepath.Join(d, "base.fvecs"), 0)
		if err != nil {
			return nil, err
		}
		qs, err := dataset.ReadFvecs(filepath.Join(d, "query.fvecs"), queries)
		if err != nil {
			return nil, err
		}
		if qs.Dim != base.Dim {
			return nil, fmt.Errorf("bench: %s: query dimension %d != base dimension %d", d, qs.Dim, base.Dim)
		}
		bd := &benchData{base: base, qs: qs}
		if n > 0 && n < base.N() {
			base.Data = base.Data[:n*base.Dim]
		} else if gt := filepath.Join(d, "groundtruth.ivecs"); fileExists(gt) {
			bd.gtFile = gt
		}
		return bd, nil
	default:
		return nil, fmt.Errorf("--dataset = %q: must be random or fashion-mnist", name)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// groundTruth fills d.gt with the exact L2 top k of every query: from the
// prepared groundtruth.ivecs when it covers the whole base and k, else by
// brute force (with progress on stderr).
func (d *benchData) groundTruth(k int) error {
	if d.gtFile != "" {
		gt, err := dataset.ReadIvecs(d.gtFile, d.qs.N())
		if err != nil {
			return err
		}
		if len(gt) == d.qs.N() && len(gt) > 0 && len(gt[0]) >= k {
			for i := range gt {
				gt[i] = gt[i][:k]
			}
			d.gt = gt
			return nil
		}
	}
	benchLog("ground truth: exact top %d of %d queries over %d x %d (brute force)...", k, d.qs.N(), d.base.N(), d.base.Dim)
	t0 := time.Now()
	last := t0
	d.gt = dataset.ExactKNN(distance.L2, d.base, d.qs, k, 0, func(done, total int) {
		if now := time.Now(); now.Sub(last) >= 5*time.Second {
			last = now
			benchLog("ground truth: %d/%d queries, %s", done, total, now.Sub(t0).Round(time.Second))
		}
	})
	benchLog("ground truth: done in %s", time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// recallAtK is |got ∩ gt| / |gt| summed over the queries that ran (got[i]
// nil: query i did not run), gt[i] cut to its first k ids: recall@k.
func recallAtK(got [][]int64, gt [][]int32, k int) float64 {
	hits, total := 0, 0
	for i, ids := range got {
		if ids == nil {
			continue
		}
		want := gt[i][:min(k, len(gt[i]))]
		total += len(want)
		for _, id := range ids[:min(k, len(ids))] {
			if slices.Contains(want, int32(id)) {
				hits++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(hits) / float64(total)
}
