package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/annbench"
)

func newBenchANNCmd() *cobra.Command {
	var (
		o             annbench.Options
		dataset       string
		cacheDir      string
		applyNoAnchor func()
	)
	cmd := &cobra.Command{
		Use:   "ann",
		Short: "HNSW / IVF_FLAT recall and QPS on Fashion-MNIST, against hnswlib (generic and -march=native) / FAISS in the same run",
		Long: `Runs an ef sweep (HNSW) or nprobe sweep (IVF_FLAT) on Fashion-MNIST (60000
base images, 10000 queries, 784-d, L2) and prints on stdout one JSON object
per measured point (engine, index, params, recall_at_10, qps_1thread,
qps_batch, build_seconds, rss_mb), then {"summary": ...} with our QPS /
anchor QPS at recall@10 = 0.95 and 0.99 and the build-time and memory
ratios. Progress goes to stderr.

The anchors run in the same run on the same files. HNSW: hnswlib through
Debian's generic python3-hnswlib build (engine "hnswlib": the unprefixed
ratios), and hnswlib compiled on this machine with g++ -O3 -march=native
from Debian's libhnswlib-dev headers (engine "hnswlib-native": the
"native_" ratios; compiled once into --cache-dir, skipped with a note
without g++ or the headers). IVF_FLAT: FAISS IndexIVFFlat (python3-faiss).

The data comes from Debian's dataset-fashion-mnist package, converted
once (with the exact ground truth, by brute force) into --cache-dir and
reused. Packages: apt-get install dataset-fashion-mnist python3-numpy
python3-hnswlib libhnswlib-dev g++ (python3-faiss for IVF_FLAT).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset != "fashion-mnist" {
				return fmt.Errorf("--dataset = %q: only fashion-mnist is supported", dataset)
			}
			if o.Queries < 0 || o.BaseLimit < 0 {
				return fmt.Errorf("--queries and --base-limit must be >= 0")
			}
			cache, err := benchCacheDir(cacheDir)
			if err != nil {
				return err
			}
			if o.DatasetDir, err = fashionMNISTDir(o.DatasetDir, cache); err != nil {
				return err
			}
			o.CacheDir = cache
			applyNoAnchor()
			if o.Anchor && o.BaseLimit > 0 {
				benchLog("--base-limit: the anchors run only on the whole dataset; skipped")
				o.Anchor = false
			}
			o.Log = benchLog
			skipped := map[string]string{}
			o.Skip = func(engine, reason string) {
				benchLog("%s: %s", engine, reason)
				skipped[engine] = reason
			}
			var pts []annbench.Point
			enc := json.NewEncoder(cmd.OutOrStdout())
			if err := annbench.Run(o, func(p annbench.Point) {
				pts = append(pts, p)
				enc.Encode(p)
			}); err != nil {
				return err
			}
			sum := annbench.Summary(pts)
			if len(skipped) > 0 {
				sum["skipped"] = skipped
			}
			return enc.Encode(map[string]any{"summary": sum})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "fashion-mnist", "dataset name (only fashion-mnist)")
	f.StringVar(&o.DatasetDir, "dataset-dir", "", "a directory with base.fvecs, query.fvecs, groundtruth.ivecs to use instead of the Debian package")
	f.StringVar(&cacheDir, "cache-dir", "", "where the dataset is converted and the native anchor compiled (default $XDG_CACHE_HOME/tandem or ~/.cache/tandem)")
	f.StringVar(&o.Index, "index", "HNSW", "HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ or HNSW_SQ")
	f.IntVar(&o.PQM, "pq-m", 56, "IVF_PQ m (sub-quantizers; must divide 784)")
	addHNSWMFlag(f, &o.M, 16)
	f.IntVar(&o.EfConstruction, "ef-construction", 200, "HNSW efConstruction")
	f.IntSliceVar(&o.Efs, "ef", nil, "HNSW ef sweep (default 10,16,24,32,48,64,96,128)")
	f.IntVar(&o.Nlist, "nlist", 1024, "IVF nlist")
	f.IntSliceVar(&o.Nprobes, "nprobe", nil, "IVF nprobe sweep (default 1,2,4,8,16,32,64)")
	f.IntVar(&o.Queries, "queries", 0, "queries to run (0: all 10000)")
	f.IntVar(&o.BaseLimit, "base-limit", 0, "use only the first N base vectors (0: all; ground truth recomputed; no anchors)")
	f.IntVar(&o.BatchThreads, "batch-threads", 2, "goroutines for qps_batch")
	f.IntVar(&o.BuildThreads, "build-threads", 0, "build threads for us and the anchor (0: all cores)")
	f.IntVar(&o.Repeats, "repeats", 3, "timed passes per point; the fastest counts")
	applyNoAnchor = addAnchorFlag(f, &o.Anchor, "also measure hnswlib (HNSW) or FAISS (IVF_FLAT) on the same data", true)
	f.StringVar(&o.CXX, "cxx", "g++", "C++ compiler for the native hnswlib anchor")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of our search sweep here")
	f.StringVar(&o.BuildProfile, "buildprofile", "", "write a CPU profile of our build here")
	return cmd
}
