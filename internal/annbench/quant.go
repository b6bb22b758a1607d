package annbench

// Quantized indexes (IVF_SQ8, IVF_PQ, HNSW_SQ) against FAISS
// (anchors/faiss_quant_bench.py: IndexIVFScalarQuantizer, IndexIVFPQ,
// IndexHNSWSQ). Memory is compared as index bytes: our MemoryBytes()
// (centroids, codec, ids, codes, norms; HNSW: graph + codes) against the
// size of FAISS's serialized index; params.index_bytes carries both.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
	"github.com/tandem-db/tandem/internal/index/quant"
)

// quantIndexes are the index names runQuant handles.
var quantIndexes = map[string]bool{"IVF_SQ8": true, "IVF_PQ": true, "HNSW_SQ": true}

func runQuant(o *Options, d *data, emit func(Point)) error {
	rss0 := settledRSS()
	t0, c0 := time.Now(), cpuSeconds()
	var (
		search func(q []float32, p int) []flat.Hit
		bytes  int64
		sweepP []int
		key    string
		params = map[string]any{}
	)
	n := d.base.N()
	switch o.Index {
	case "IVF_SQ8", "IVF_PQ":
		cfg := quant.IVFConfig{Kind: quant.KindSQ8, Metric: d.metric, Nlist: o.Nlist, Seed: 1}
		if o.Index == "IVF_PQ" {
			cfg.Kind, cfg.M, cfg.Nbits = quant.KindPQ, o.PQM, 8
			params["m"] = o.PQM
		}
		x, err := quant.BuildIVF(cfg, rowVecs{d.base}, n, o.BuildThreads)
		if err != nil {
			return fmt.Errorf("annbench: %w", err)
		}
		search = func(q []float32, p int) []flat.Hit { return x.Search(q, 10, p, 10, nil) }
		bytes, key = x.MemoryBytes(), "nprobe"
		for _, p := range o.Nprobes {
			sweepP = append(sweepP, min(p, o.Nlist))
		}
		params["nlist"] = o.Nlist
	case "HNSW_SQ":
		g := hnsw.Config{Metric: d.metric, M: o.M, EfConstruction: o.EfConstruction, Seed: 1}
		x, err := quant.BuildHNSW(quant.HNSWConfig{Graph: g, Kind: quant.KindSQ8}, rowVecs{d.base}, n, o.BuildThreads, nil)
		if err != nil {
			return fmt.Errorf("annbench: %w", err)
		}
		search = func(q []float32, p int) []flat.Hit { return x.Search(q, 10, p, 1, nil) }
		bytes, key = x.MemoryBytes(), "ef"
		for _, p := range o.Efs {
			sweepP = append(sweepP, max(p, 10))
		}
		params["M"], params["efConstruction"] = o.M, o.EfConstruction
	}
	build, buildCPU := time.Since(t0).Seconds(), cpuSeconds()-c0
	rss := settledRSS() - rss0
	o.Log("tandem %s build %.1fs (%.1f CPU s), rss +%.1f MiB, index %.1f MiB", o.Index, build, buildCPU, rss, float64(bytes)/(1<<20))
	var ss []searcher
	for _, p := range sweepP {
		ss = append(ss, func(q []float32) []flat.Hit { return search(q, p) })
	}
	for i, r := range sweep(d, o.BatchThreads, o.Repeats, ss) {
		ps := map[string]any{key: sweepP[i], "build_threads": o.BuildThreads, "batch_threads": o.BatchThreads,
			"build_cpu_seconds": buildCPU, "index_bytes": bytes}
		for k, v := range params {
			ps[k] = v
		}
		emit(Point{Engine: "tandem", Index: o.Index, Params: ps,
			RecallAt10: r.recall, QPS1Thread: r.qps1, QPSBatch: r.qpsb, BuildSeconds: build, RSSMB: rss})
	}
	return nil
}

// quantAnchorArgs are the FAISS anchor's arguments for a quantized index.
func quantAnchorArgs(o *Options) []string {
	args := []string{filepath.Join(o.AnchorDir, "faiss_quant_bench.py"), "--index", o.Index}
	switch o.Index {
	case "HNSW_SQ":
		args = append(args, "--M", strconv.Itoa(o.M), "--ef-construction", strconv.Itoa(o.EfConstruction), "--sweep", joinInts(o.Efs))
	default:
		args = append(args, "--nlist", strconv.Itoa(o.Nlist), "--m", strconv.Itoa(o.PQM), "--sweep", joinInts(o.Nprobes))
	}
	return args
}

// quantSummary compares QPS at recall 0.90 / 0.95 and index bytes.
func quantSummary(ours, theirs []Point) map[string]any {
	s := map[string]any{"anchor": "faiss"}
	for _, target := range []float64{0.90, 0.95} {
		key := strconv.FormatFloat(target, 'f', 2, 64)
		o1, ob := qpsAt(ours, target)
		s["tandem_qps_1thread@"+key] = nanNil(o1)
		s["tandem_qps_batch@"+key] = nanNil(ob)
		if len(theirs) > 0 {
			t1, tb := qpsAt(theirs, target)
			s["faiss_qps_1thread@"+key] = nanNil(t1)
			s["faiss_qps_batch@"+key] = nanNil(tb)
			s["qps_ratio_1thread@"+key] = nanNil(o1 / t1)
			s["qps_ratio_batch@"+key] = nanNil(ob / tb)
		}
	}
	s["tandem_build_seconds"] = ours[0].BuildSeconds
	s["tandem_index_bytes"] = ours[0].Params["index_bytes"]
	if len(theirs) > 0 {
		s["faiss_build_seconds"] = theirs[0].BuildSeconds
		s["faiss_index_bytes"] = theirs[0].Params["index_bytes"]
		s["build_time_ratio"] = nanNil(ours[0].BuildSeconds / theirs[0].BuildSeconds)
		ob, _ := toFloat(ours[0].Params["index_bytes"])
		tb, _ := toFloat(theirs[0].Params["index_bytes"])
		s["memory_ratio"] = nanNil(ob / tb)
	}
	return s
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}
