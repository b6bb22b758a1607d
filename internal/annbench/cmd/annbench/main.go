// Command annbench runs internal/annbench from the command line (for
// development; `tandem bench ann` is the user-facing entry point). It prints
// one JSON object per measured point and a final {"summary": ...} object.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/annbench"
)

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			v, err := strconv.Atoi(f)
			if err != nil {
				fmt.Fprintf(os.Stderr, "annbench: bad integer %q\n", f)
				os.Exit(2)
			}
			out = append(out, v)
		}
	}
	return out
}

func main() {
	var o annbench.Options
	var efs, nprobes string
	flag.StringVar(&o.DatasetDir, "dir", "/work/data/fashion-mnist", "dataset directory")
	flag.StringVar(&o.Index, "index", "HNSW", "HNSW or IVF_FLAT")
	flag.IntVar(&o.M, "M", 16, "HNSW M")
	flag.IntVar(&o.EfConstruction, "efc", 200, "HNSW efConstruction")
	flag.StringVar(&efs, "efs", "", "HNSW ef sweep, comma separated")
	flag.IntVar(&o.Nlist, "nlist", 1024, "IVF nlist")
	flag.StringVar(&nprobes, "nprobes", "", "IVF nprobe sweep, comma separated")
	flag.IntVar(&o.Queries, "queries", 0, "queries (0: all)")
	flag.IntVar(&o.BatchThreads, "batch-threads", 2, "goroutines for batch QPS")
	flag.IntVar(&o.BuildThreads, "build-threads", 0, "build threads (0: all cores)")
	flag.BoolVar(&o.Anchor, "anchor", false, "also run hnswlib / faiss")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "CPU profile of the search sweep")
	flag.StringVar(&o.BuildProfile, "buildprofile", "", "CPU profile of the build")
	flag.IntVar(&o.BaseLimit, "base-limit", 0, "use only the first N base vectors")
	flag.IntVar(&o.Repeats, "repeats", 3, "timed passes per point (best counts)")
	flag.Parse()
	o.Efs, o.Nprobes = ints(efs), ints(nprobes)
	o.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	var pts []annbench.Point
	enc := json.NewEncoder(os.Stdout)
	err := annbench.Run(o, func(p annbench.Point) {
		pts = append(pts, p)
		enc.Encode(p)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	enc.Encode(map[string]any{"summary": annbench.Summary(pts)})
}
