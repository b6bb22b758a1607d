package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/annbench"
)

func newBenchANNCmd() *cobra.Command {
	var (
		o        annbench.Options
		dataset  string
		noAnchor bool
	)
	cmd := &cobra.Command{
		Use:   "ann",
		Short: "HNSW / IVF_FLAT recall and QPS on a real dataset, against hnswlib / FAISS in the same run",
		Long: `Runs an ef sweep (HNSW) or nprobe sweep (IVF_FLAT) on the dataset and prints one
JSON object per measured point (engine, index, params, recall_at_10, qps_1thread,
qps_batch, build_seconds, rss_mb), then {"summary": ...} with our QPS / hnswlib QPS
at recall@10 = 0.95 and 0.99 and the build-time and memory ratios.

Fashion-MNIST: apt-get install dataset-fashion-mnist python3-numpy python3-hnswlib, then
  /usr/bin/python3 shared/datasets/prepare_fashion_mnist.py DIR
and pass --dataset-dir DIR (default $TANDEM_DATASET_DIR or ./.data/fashion-mnist).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset != "fashion-mnist" {
				return fmt.Errorf("--dataset = %q: only fashion-mnist is supported", dataset)
			}
			if o.DatasetDir == "" {
				o.DatasetDir = os.Getenv("TANDEM_DATASET_DIR")
			}
			if o.DatasetDir == "" {
				o.DatasetDir = ".data/fashion-mnist"
			}
			o.Anchor = !noAnchor
			o.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
			var pts []annbench.Point
			enc := json.NewEncoder(os.Stdout)
			if err := annbench.Run(o, func(p annbench.Point) {
				pts = append(pts, p)
				enc.Encode(p)
			}); err != nil {
				return err
			}
			return enc.Encode(map[string]any{"summary": annbench.Summary(pts)})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "fashion-mnist", "dataset name")
	f.StringVar(&o.DatasetDir, "dataset-dir", "", "directory with base.fvecs, query.fvecs, groundtruth.ivecs")
	f.StringVar(&o.Index, "index", "HNSW", "HNSW or IVF_FLAT")
	f.IntVar(&o.M, "M", 16, "HNSW M")
	f.IntVar(&o.EfConstruction, "ef-construction", 200, "HNSW efConstruction")
	f.IntSliceVar(&o.Efs, "ef", nil, "HNSW ef sweep (default 10,16,24,32,48,64,96,128)")
	f.IntVar(&o.Nlist, "nlist", 1024, "IVF nlist")
	f.IntSliceVar(&o.Nprobes, "nprobe", nil, "IVF nprobe sweep (default 1,2,4,8,16,32,64)")
	f.IntVar(&o.Queries, "queries", 0, "queries to run (0: all 10000)")
	f.IntVar(&o.BatchThreads, "batch-threads", 2, "goroutines for qps_batch")
	f.IntVar(&o.BuildThreads, "build-threads", 0, "build threads for us and the anchor (0: all cores)")
	f.IntVar(&o.Repeats, "repeats", 3, "timed passes per point; the fastest counts")
	f.BoolVar(&noAnchor, "no-anchor", false, "skip hnswlib / FAISS")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of our search sweep here")
	return cmd
}
