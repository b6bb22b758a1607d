// Package annbench measures Tandem's ANN indexes (HNSW, IVF_FLAT) on a
// TEXMEX dataset directory (base.fvecs, query.fvecs, groundtruth.ivecs, as
// written by dataset.PrepareFashionMNIST) and, optionally, anchors measured
// in the same run: for HNSW, hnswlib through Debian's generic python3-hnswlib
// build (anchors/hnswlib_bench.py) and hnswlib compiled on this machine with
// -O3 -march=native from Debian's libhnswlib-dev headers
// (anchors/hnswlib_native.cpp, built into CacheDir), so that ratios are
// against the fastest hnswlib too; for IVF_FLAT, FAISS IndexIVFFlat
// (anchors/faiss_ivf_bench.py). The Python anchors run with /usr/bin/python3.
//
// What is measured, per point of the parameter sweep (ef or nprobe):
//   - recall_at_10: |top-10 returned ∩ top-10 ground truth| / 10, averaged.
//   - qps_1thread: queries answered one at a time on one goroutine.
//   - qps_batch: BatchThreads goroutines (default 2) splitting the queries.
//   - Both QPS are the best of Repeats passes, taken in rounds over the
//     whole sweep (the machine may be shared; the best pass is the one
//     least disturbed).
//   - build_seconds: wall time of the build using all cores
//     (runtime.NumCPU goroutines); the anchors build with the same number of
//     threads.
//   - rss_mb: growth of the process's VmRSS (/proc/self/status) across the
//     build, after the data is loaded; both readings are taken after
//     runtime.GC and debug.FreeOSMemory, so the growth is what the index
//     retains (build scratch already freed; peak use is not reported). The
//     index does not copy the vectors, so this is the graph/lists only.
//     Anchors report their own growth (VmRSS after build minus after
//     loading), which includes their copy of the vectors; Summary's
//     memory_ratio_with_vectors adds the raw vector bytes to ours.
//
// The package holds no global state; Run may be called more than once.
package annbench

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
	"github.com/tandem-db/tandem/internal/index/ivf"
)

// Options configures Run. Zero values take the defaults noted.
type Options struct {
	DatasetDir     string // directory with base.fvecs, query.fvecs, groundtruth.ivecs
	Index          string // "HNSW" (default) or "IVF_FLAT"
	M              int    // HNSW M (default 16)
	EfConstruction int    // HNSW efConstruction (default 200)
	Efs            []int  // HNSW ef sweep (default 10,16,24,32,48,64,96,128)
	Nlist          int    // IVF nlist (default 1024)
	PQM            int    // IVF_PQ m (default 56: 14 dimensions per sub-quantizer on Fashion-MNIST)
	Nprobes        []int  // IVF nprobe sweep (default 1,2,4,8,16,32,64)
	Queries        int    // number of queries used (default all)
	BatchThreads   int    // goroutines for qps_batch (default 2)
	Anchor         bool   // also run hnswlib (HNSW: Python and native) / FAISS IndexIVFFlat (IVF_FLAT)
	CacheDir       string // where the native hnswlib anchor is compiled (default dataset.DefaultCacheDir())
	CXX            string // C++ compiler for the native anchor (default g++)
	HnswlibInclude string // directory holding hnswlib/hnswlib.h (default /usr/include)
	BuildThreads   int    // build threads for us and the anchor (default runtime.NumCPU())
	CPUProfile     string // if set, write a CPU profile of our search sweep here
	BuildProfile   string // if set, write a CPU profile of our build here
	Python         string // interpreter for anchors (default /usr/bin/python3)
	AnchorDir      string // directory holding the anchor scripts (default: the copies embedded in the binary)
	BaseLimit      int    // use only the first BaseLimit base vectors (0: all; ground truth then recomputed)
	Metric         string // "L2" (default; the datasets' metric)
	Repeats        int    // timed passes per point; the fastest counts (default 3; the machine may be shared)
	Log            func(string, ...any)
	Skip           func(engine, reason string) // an anchor was skipped (default: logged)
}

// Point is one measured point. Params holds the engine's parameters.
type Point struct {
	Engine       string         `json:"engine"` // "tandem", "hnswlib", "hnswlib-native", "faiss"
	Index        string         `json:"index"`  // "HNSW" or "IVF_FLAT"
	Params       map[string]any `json:"params"`
	RecallAt10   float64        `json:"recall_at_10"`
	QPS1Thread   float64        `json:"qps_1thread"`
	QPSBatch     float64        `json:"qps_batch"`
	BuildSeconds float64        `json:"build_seconds"`
	RSSMB        float64        `json:"rss_mb"`
}

func (o *Options) defaults() {
	if o.Index == "" {
		o.Index = "HNSW"
	}
	o.Index = strings.ToUpper(o.Index)
	if o.M == 0 {
		o.M = hnsw.DefaultM
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = hnsw.DefaultEfConstr
	}
	if len(o.Efs) == 0 {
		o.Efs = []int{10, 16, 24, 32, 48, 64, 96, 128}
	}
	if o.Nlist == 0 {
		o.Nlist = 1024
	}
	if o.PQM == 0 {
		o.PQM = 56
	}
	if len(o.Nprobes) == 0 {
		o.Nprobes = []int{1, 2, 4, 8, 16, 32, 64}
	}
	if o.BatchThreads <= 0 {
		o.BatchThreads = 2
	}
	if o.BuildThreads <= 0 {
		o.BuildThreads = runtime.NumCPU()
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
	if o.CXX == "" {
		o.CXX = "g++"
	}
	if o.HnswlibInclude == "" {
		o.HnswlibInclude = "/usr/include"
	}
	if o.Metric == "" {
		o.Metric = "L2"
	}
	if o.Repeats <= 0 {
		o.Repeats = 3
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Skip == nil {
		log := o.Log
		o.Skip = func(engine, reason string) { log("%s: %s", engine, reason) }
	}
}

// rowVecs adapts dataset.Vectors (contiguous rows) to the indexes' Vectors.
type rowVecs struct{ v *dataset.Vectors }

func (r rowVecs) Dim() int { return r.v.Dim }
func (r rowVecs) Vector(id uint32) []float32 {
	o := int(id) * r.v.Dim
	return r.v.Data[o : o+r.v.Dim : o+r.v.Dim]
}

type data struct {
	base, query *dataset.Vectors
	gt          [][]int32 // top-10 per query
	metric      distance.Metric
}

func load(o *Options) (*data, error) {
	m, err := distance.ParseMetric(o.Metric)
	if err != nil {
		return nil, fmt.Errorf("annbench: %w", err)
	}
	base, err := dataset.ReadFvecs(filepath.Join(o.DatasetDir, "base.fvecs"), o.BaseLimit)
	if err != nil {
		return nil, fmt.Errorf("annbench: %w", err)
	}
	q, err := dataset.ReadFvecs(filepath.Join(o.DatasetDir, "query.fvecs"), o.Queries)
	if err != nil {
		return nil, fmt.Errorf("annbench: %w", err)
	}
	if q.Dim != base.Dim {
		return nil, fmt.Errorf("annbench: query dimension %d != base dimension %d", q.Dim, base.Dim)
	}
	d := &data{base: base, query: q, metric: m}
	if o.BaseLimit > 0 || m != distance.L2 {
		d.gt = exactTop10(d)
	} else {
		gt, err := dataset.ReadIvecs(filepath.Join(o.DatasetDir, "groundtruth.ivecs"), o.Queries)
		if err != nil {
			return nil, fmt.Errorf("annbench: %w", err)
		}
		if len(gt) != q.N() {
			return nil, fmt.Errorf("annbench: %d ground-truth rows for %d queries", len(gt), q.N())
		}
		d.gt = gt
	}
	return d, nil
}

// exactTop10 computes the ground truth by brute force (dataset.ExactKNN).
func exactTop10(d *data) [][]int32 {
	return dataset.ExactKNN(d.metric, d.base, d.query, 10, 0, nil)
}

// rssMB reads VmRSS of this process in MiB.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func settledRSS() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssMB()
}

// searcher answers one query with top-10 row ids.
type searcher func(q []float32) []flat.Hit

// result is the measurement of one sweep point.
type result struct{ recall, qps1, qpsb float64 }

// sweep measures every searcher (one per sweep point): recall@10, and
// single-thread and batch QPS, each the best of `repeats` timed passes over
// all queries. The passes are taken in rounds over the whole sweep, so that
// a burst of load from other processes on a shared machine does not spoil
// every pass of one point.
func sweep(d *data, threads, repeats int, ss []searcher) []result {
	nq := d.query.N()
	out := make([]result, len(ss))
	res := make([][]flat.Hit, nq)
	for i, s := range ss {
		for j := 0; j < nq; j++ {
			res[j] = s(d.query.Row(j))
		}
		var hits int
		for j, r := range res {
			hits += overlap10(r, d.gt[j])
		}
		out[i].recall = float64(hits) / float64(10*nq)
	}
	for r := 0; r < repeats; r++ {
		for i, s := range ss {
			t0 := time.Now()
			for j := 0; j < nq; j++ {
				s(d.query.Row(j))
			}
			out[i].qps1 = max(out[i].qps1, float64(nq)/time.Since(t0).Seconds())
			var wg sync.WaitGroup
			t0 = time.Now()
			for w := 0; w < threads; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for j := w; j < nq; j += threads {
						s(d.query.Row(j))
					}
				}(w)
			}
			wg.Wait()
			out[i].qpsb = max(out[i].qpsb, float64(nq)/time.Since(t0).Seconds())
		}
	}
	return out
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func overlap10(r []flat.Hit, gt []int32) int {
	n := 0
	for _, h := range r[:min(10, len(r))] {
		if slices.Contains(gt[:min(10, len(gt))], int32(h.ID)) {
			n++
		}
	}
	return n
}

func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("annbench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("annbench: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// Run loads the dataset, builds our index, sweeps its search parameter and
// emits one Point per setting; with Anchor it then runs the matching anchor
// and emits its points too. It returns the first error.
func Run(opts Options, emit func(Point)) error {
	opts.defaults()
	d, err := load(&opts)
	if err != nil {
		return err
	}
	opts.Log("loaded %d base x %d, %d queries", d.base.N(), d.base.Dim, d.query.N())
	switch opts.Index {
	case "HNSW":
		err = runHNSW(&opts, d, emit)
	case "IVF_FLAT":
		err = runIVF(&opts, d, emit)
	case "IVF_SQ8", "IVF_PQ", "HNSW_SQ":
		err = runQuant(&opts, d, emit)
	default:
		return fmt.Errorf("annbench: unknown index %q (HNSW or IVF_FLAT)", opts.Index)
	}
	if err != nil {
		return err
	}
	if opts.Anchor {
		return runAnchor(&opts, emit)
	}
	return nil
}

func runHNSW(o *Options, d *data, emit func(Point)) error {
	cfg := hnsw.Config{Metric: d.metric, M: o.M, EfConstruction: o.EfConstruction, Seed: 1}
	rss0 := settledRSS()
	stop, err := startProfile(o.BuildProfile)
	if err != nil {
		return err
	}
	t0, c0 := time.Now(), cpuSeconds()
	x, err := hnsw.New(cfg, rowVecs{d.base}, d.base.N())
	if err != nil {
		stop()
		return fmt.Errorf("annbench: %w", err)
	}
	if err := x.AddAll(d.base.N(), o.BuildThreads); err != nil {
		stop()
		return fmt.Errorf("annbench: %w", err)
	}
	build, buildCPU := time.Since(t0).Seconds(), cpuSeconds()-c0
	stop()
	rss := settledRSS() - rss0
	o.Log("tandem HNSW build %.1fs (%.1f CPU s), rss +%.1f MiB, graph %.1f MiB", build, buildCPU, rss, float64(x.MemoryBytes())/(1<<20))
	stop, err = startProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	defer stop()
	var ss []searcher
	for _, ef := range o.Efs {
		ef := max(ef, 10)
		ss = append(ss, func(q []float32) []flat.Hit { return x.Search(q, 10, ef, nil) })
	}
	for i, r := range sweep(d, o.BatchThreads, o.Repeats, ss) {
		emit(Point{
			Engine: "tandem", Index: "HNSW",
			Params: map[string]any{"M": o.M, "efConstruction": o.EfConstruction, "ef": max(o.Efs[i], 10),
				"build_threads": o.BuildThreads, "batch_threads": o.BatchThreads, "build_cpu_seconds": buildCPU,
				"graph_mb": float64(x.MemoryBytes()) / (1 << 20), "vectors_mb": float64(len(d.base.Data)*4) / (1 << 20)},
			RecallAt10: r.recall, QPS1Thread: r.qps1, QPSBatch: r.qpsb, BuildSeconds: build, RSSMB: rss,
		})
	}
	return nil
}

func runIVF(o *Options, d *data, emit func(Point)) error {
	cfg := ivf.Config{Metric: d.metric, Nlist: o.Nlist, Seed: 1}
	rss0 := settledRSS()
	stop, err := startProfile(o.BuildProfile)
	if err != nil {
		return err
	}
	t0, c0 := time.Now(), cpuSeconds()
	x, err := ivf.New(cfg, rowVecs{d.base})
	if err == nil {
		err = x.Train(d.base.N(), o.BuildThreads)
	}
	if err == nil {
		err = x.AddAll(d.base.N(), o.BuildThreads)
	}
	stop()
	if err != nil {
		return fmt.Errorf("annbench: %w", err)
	}
	build, buildCPU := time.Since(t0).Seconds(), cpuSeconds()-c0
	rss := settledRSS() - rss0
	o.Log("tandem IVF_FLAT build %.1fs (%.1f CPU s), rss +%.1f MiB", build, buildCPU, rss)
	stop, err = startProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	defer stop()
	var ss []searcher
	for _, np := range o.Nprobes {
		np := min(np, o.Nlist)
		ss = append(ss, func(q []float32) []flat.Hit { return x.Search(q, 10, np, nil) })
	}
	for i, r := range sweep(d, o.BatchThreads, o.Repeats, ss) {
		emit(Point{
			Engine: "tandem", Index: "IVF_FLAT",
			Params: map[string]any{"nlist": o.Nlist, "nprobe": min(o.Nprobes[i], o.Nlist),
				"build_threads": o.BuildThreads, "batch_threads": o.BatchThreads, "build_cpu_seconds": buildCPU,
				"lists_mb": float64(x.MemoryBytes()) / (1 << 20), "vectors_mb": float64(len(d.base.Data)*4) / (1 << 20)},
			RecallAt10: r.recall, QPS1Thread: r.qps1, QPSBatch: r.qpsb, BuildSeconds: build, RSSMB: rss,
		})
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// embeddedAnchors are the anchor scripts, built into the binary so that
// `tandem bench ann` works wherever the binary is.
//
//go:embed anchors/*.py anchors/*.cpp
var embeddedAnchors embed.FS

// writeEmbeddedAnchors copies the embedded scripts into a new temporary
// directory, which the caller removes.
func writeEmbeddedAnchors() (string, error) {
	dir, err := os.MkdirTemp("", "tandem-anchors-")
	if err != nil {
		return "", fmt.Errorf("annbench: %w", err)
	}
	entries, err := embeddedAnchors.ReadDir("anchors")
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("annbench: %w", err)
	}
	for _, e := range entries {
		b, err := embeddedAnchors.ReadFile("anchors/" + e.Name())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("annbench: anchor %s: %w", e.Name(), err)
		}
	}
	return dir, nil
}

// runAnchor runs the Python anchor script (hnswlib or FAISS) and, for HNSW,
// the native hnswlib anchor, forwarding their JSON lines as Points.
func runAnchor(o *Options, emit func(Point)) error {
	if o.BaseLimit > 0 || o.Metric != "L2" {
		return fmt.Errorf("annbench: anchors support only the full dataset with L2")
	}
	if o.AnchorDir == "" {
		dir, err := writeEmbeddedAnchors()
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.AnchorDir = dir
		defer func() { o.AnchorDir = "" }()
	}
	var args []string
	switch o.Index {
	case "HNSW":
		args = []string{filepath.Join(o.AnchorDir, "hnswlib_bench.py"),
			"--M", strconv.Itoa(o.M), "--ef-construction", strconv.Itoa(o.EfConstruction),
			"--efs", joinInts(o.Efs)}
	case "IVF_FLAT":
		args = []string{filepath.Join(o.AnchorDir, "faiss_ivf_bench.py"),
			"--nlist", strconv.Itoa(o.Nlist), "--nprobes", joinInts(o.Nprobes)}
	default:
		args = quantAnchorArgs(o)
	}
	args = append(args, anchorArgs(o)...)
	o.Log("anchor: %s %s", o.Python, filepath.Base(args[0]))
	if err := runAnchorCmd(exec.Command(o.Python, args...), emit); err != nil {
		return err
	}
	if o.Index != "HNSW" {
		return nil
	}
	bin, err := buildNativeAnchor(o)
	if errors.Is(err, errSkipNative) {
		o.Skip(NativeEngine, err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	o.Log("anchor: %s (hnswlib, -O3 -march=native)", bin)
	return runAnchorCmd(exec.Command(bin, append([]string{"--M", strconv.Itoa(o.M),
		"--ef-construction", strconv.Itoa(o.EfConstruction), "--efs", joinInts(o.Efs)}, anchorArgs(o)...)...), emit)
}

// anchorArgs are the flags every anchor takes.
func anchorArgs(o *Options) []string {
	return []string{"--dir", o.DatasetDir, "--queries", strconv.Itoa(o.Queries), "--repeats", strconv.Itoa(o.Repeats),
		"--build-threads", strconv.Itoa(o.BuildThreads), "--batch-threads", strconv.Itoa(o.BatchThreads)}
}

// runAnchorCmd runs cmd (stderr passed through) and emits each JSON line
// it prints on stdout as a Point.
func runAnchorCmd(cmd *exec.Cmd, emit func(Point)) error {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("annbench: anchor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("annbench: anchor: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var perr error
	for sc.Scan() {
		var p Point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			perr = fmt.Errorf("annbench: anchor output %q: %w", sc.Text(), err)
			continue
		}
		emit(p)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("annbench: anchor %s: %w", cmd.Args[0], err)
	}
	return perr
}

// NativeEngine is the Engine of the native hnswlib anchor's points.
const NativeEngine = "hnswlib-native"

// errSkipNative: the native anchor cannot be built here (no compiler or no
// hnswlib headers); the run goes on without it.
var errSkipNative = errors.New("annbench: native hnswlib anchor skipped")

// nativeFlags are the compiler flags of the native anchor.
var nativeFlags = []string{"-O3", "-march=native", "-std=c++17", "-pthread"}

// buildNativeAnchor compiles anchors/hnswlib_native.cpp (embedded) with
// o.CXX and nativeFlags into o.CacheDir/anchors, once per source, flags,
// compiler version and include directory (the name carries their hash), and
// returns the binary's path. It returns an error wrapping errSkipNative when
// the compiler or hnswlib/hnswlib.h is missing.
func buildNativeAnchor(o *Options) (string, error) {
	cxx, err := exec.LookPath(o.CXX)
	if err != nil {
		return "", fmt.Errorf("%w: no C++ compiler %q (apt-get install g++)", errSkipNative, o.CXX)
	}
	hdr := filepath.Join(o.HnswlibInclude, "hnswlib", "hnswlib.h")
	if _, err := os.Stat(hdr); err != nil {
		return "", fmt.Errorf("%w: %s is missing (apt-get install libhnswlib-dev)", errSkipNative, hdr)
	}
	src, err := embeddedAnchors.ReadFile("anchors/hnswlib_native.cpp")
	if err != nil {
		return "", fmt.Errorf("annbench: %w", err)
	}
	ver, err := exec.Command(cxx, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("annbench: %s --version: %w", cxx, err)
	}
	hh, err := os.ReadFile(filepath.Join(o.HnswlibInclude, "hnswlib", "hnswalg.h"))
	if err != nil {
		return "", fmt.Errorf("annbench: %w", err)
	}
	cpu, _ := os.ReadFile("/proc/cpuinfo") // -march=native: the binary is for this CPU
	if i := bytes.Index(cpu, []byte("\n\n")); i > 0 {
		cpu = cpu[:i] // the first processor's entry
	}
	cpu = regexp.MustCompile(`(?m)^(cpu MHz|bogomips|core id|apicid|initial apicid)\b.*$`).ReplaceAll(cpu, nil)
	h := sha256.New()
	for _, part := range [][]byte{src, ver, []byte(strings.Join(nativeFlags, " ")), []byte(o.HnswlibInclude), hh, cpu} {
		h.Write(part)
		h.Write([]byte{0})
	}
	cache := o.CacheDir
	if cache == "" {
		if cache, err = dataset.DefaultCacheDir(); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(cache, "anchors")
	bin := filepath.Join(dir, fmt.Sprintf("hnswlib_native-%x", h.Sum(nil)[:8]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("annbench: %w", err)
	}
	srcPath := filepath.Join(dir, "hnswlib_native.cpp")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		return "", fmt.Errorf("annbench: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	args := append(append([]string{}, nativeFlags...), "-I", o.HnswlibInclude, "-o", tmp, srcPath)
	o.Log("anchor: compiling the native hnswlib anchor: %s %s", cxx, strings.Join(args, " "))
	t0 := time.Now()
	cmd := exec.Command(cxx, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("annbench: compiling %s: %w", srcPath, err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("annbench: %w", err)
	}
	o.Log("anchor: compiled in %s", time.Since(t0).Round(time.Second))
	return bin, nil
}

// Summary compares our points with the anchors' (same Index): for HNSW and
// IVF_FLAT, QPS (single thread and batch) of each engine at recall@10 =
// 0.95 and 0.99, interpolated linearly in recall between the two sweep
// points that bracket the target (missing if the sweep never reaches it),
// and the ratios ours/anchor; build time ratio and memory ratio (ours /
// anchor; "memory_ratio_with_vectors" adds the raw vector bytes to ours,
// since the anchors' RSS includes their copy of the vectors).
//
// The main anchor (hnswlib, the Python build; faiss for IVF_FLAT) gives the
// unprefixed ratio keys (qps_ratio_1thread@0.95, build_time_ratio, ...);
// the native hnswlib build gives the same keys prefixed "native_"
// (native_qps_ratio_1thread@0.95, ...). Each anchor's own figures are
// under its name with "-" as "_" (hnswlib_native_qps_1thread@0.95).
func Summary(points []Point) map[string]any {
	out := map[string]any{}
	byKey := map[string][]Point{}
	for _, p := range points {
		k := p.Index + "/" + p.Engine
		byKey[k] = append(byKey[k], p)
	}
	for _, idx := range []string{"HNSW", "IVF_FLAT"} {
		ours := byKey[idx+"/tandem"]
		if len(ours) == 0 {
			continue
		}
		anchors := []struct{ engine, prefix string }{{"hnswlib", ""}, {NativeEngine, "native_"}}
		if idx == "IVF_FLAT" {
			anchors = anchors[:1]
			anchors[0].engine = "faiss"
		}
		s := map[string]any{"anchor": anchors[0].engine}
		for _, target := range []float64{0.95, 0.99} {
			key := strconv.FormatFloat(target, 'f', 2, 64)
			o1, ob := qpsAt(ours, target)
			s["tandem_qps_1thread@"+key] = nanNil(o1)
			s["tandem_qps_batch@"+key] = nanNil(ob)
		}
		s["tandem_build_seconds"] = ours[0].BuildSeconds
		s["tandem_rss_mb"] = ours[0].RSSMB
		for _, a := range anchors {
			theirs := byKey[idx+"/"+a.engine]
			if len(theirs) == 0 {
				continue
			}
			name := strings.ReplaceAll(a.engine, "-", "_")
			for _, target := range []float64{0.95, 0.99} {
				key := strconv.FormatFloat(target, 'f', 2, 64)
				o1, ob := qpsAt(ours, target)
				t1, tb := qpsAt(theirs, target)
				s[name+"_qps_1thread@"+key] = nanNil(t1)
				s[name+"_qps_batch@"+key] = nanNil(tb)
				s[a.prefix+"qps_ratio_1thread@"+key] = nanNil(o1 / t1)
				s[a.prefix+"qps_ratio_batch@"+key] = nanNil(ob / tb)
			}
			s[name+"_build_seconds"] = theirs[0].BuildSeconds
			s[name+"_rss_mb"] = theirs[0].RSSMB
			s[a.prefix+"build_time_ratio"] = nanNil(ours[0].BuildSeconds / theirs[0].BuildSeconds)
			oc, _ := ours[0].Params["build_cpu_seconds"].(float64)
			tc, _ := theirs[0].Params["build_cpu_seconds"].(float64)
			s[a.prefix+"build_cpu_ratio"] = nanNil(oc / tc)
			s[a.prefix+"memory_ratio"] = nanNil(ours[0].RSSMB / theirs[0].RSSMB)
			if vm, ok := ours[0].Params["vectors_mb"].(float64); ok {
				s[a.prefix+"memory_ratio_with_vectors"] = nanNil((ours[0].RSSMB + vm) / theirs[0].RSSMB)
			}
		}
		out[idx] = s
	}
	for idx := range quantIndexes {
		if ours := byKey[idx+"/tandem"]; len(ours) > 0 {
			out[idx] = quantSummary(ours, byKey[idx+"/faiss"])
		}
	}
	return out
}

func nanNil(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// qpsAt interpolates single-thread and batch QPS at the target recall along
// the sweep (points sorted by recall). NaN if the target is not reached.
func qpsAt(ps []Point, target float64) (float64, float64) {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Point) int {
		switch {
		case a.RecallAt10 < b.RecallAt10:
			return -1
		case a.RecallAt10 > b.RecallAt10:
			return 1
		}
		return 0
	})
	for i, p := range ps {
		if p.RecallAt10 < target {
			continue
		}
		if i == 0 || p.RecallAt10 == target {
			return p.QPS1Thread, p.QPSBatch
		}
		a := ps[i-1]
		t := (target - a.RecallAt10) / (p.RecallAt10 - a.RecallAt10)
		return a.QPS1Thread + t*(p.QPS1Thread-a.QPS1Thread), a.QPSBatch + t*(p.QPSBatch-a.QPSBatch)
	}
	return math.NaN(), math.NaN()
}
