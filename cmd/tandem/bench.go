package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/localgroup"
	"github.com/tandem-db/tandem/internal/server"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: insert, search and ann print one JSON object per measured point on stdout; replication and failover a table (one JSON object with --json)",
		Long: `Benchmarks of an in-process node (insert, search), of the ANN indexes against
hnswlib / FAISS in the same run (ann), of replication (replication) and of
failover in a local group (failover).

insert, search and ann print one JSON object per measured point on stdout
(ann then a {"summary": ...} object); replication and failover print a
table, or with --json one JSON object on stdout (the table then goes to
stderr). Progress and notes go to stderr.`,
	}
	cmd.AddCommand(newBenchInsertCmd(), newBenchSearchCmd(), newBenchANNCmd(), newBenchReplicationCmd(), newBenchFailoverCmd(), newBenchClusterCmd())
	return cmd
}

// benchNode starts an in-process standalone node on loopback with its data
// in dir (a temporary directory when dir is "").
func benchNode(dir string, sync engine.SyncMode) (*server.Standalone, func(), error) {
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "tandem-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	node, err := server.Start(server.Config{
		Engine:     engine.Config{DataDir: dir, Sync: sync},
		Listen:     "127.0.0.1:0",
		HTTPListen: "off",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return node, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		node.Close(ctx)
		cleanup()
	}, nil
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func newBenchInsertCmd() *cobra.Command {
	var (
		dim, batchRows, clients, batches int
		dataDir, syncMode                string
	)
	cmd := &cobra.Command{
		Use:   "insert",
		Short: "Insert throughput through the official Go SDK (fsync on by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sm := engine.SyncFsync
			if syncMode == "interval" {
				sm = engine.SyncInterval
			}
			node, stop, err := benchNode(dataDir, sm)
			if err != nil {
				return err
			}
			defer stop()
			ctx := context.Background()
			c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: node.Addr()})
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			const coll = "bench_insert"
			if err := createFlatCollection(ctx, c, coll, dim); err != nil {
				return err
			}
			// Pre-generate one batch per client; pks differ per call.
			vecs := make([][][]float32, clients)
			for w := range vecs {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				vecs[w] = make([][]float32, batchRows)
				for i := range vecs[w] {
					v := make([]float32, dim)
					for j := range v {
						v[j] = r.Float32()
					}
					vecs[w][i] = v
				}
			}
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			start := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					ids := make([]int64, batchRows)
					for b := w; b < batches; b += clients {
						for i := range ids {
							ids[i] = int64(b*batchRows + i)
						}
						t0 := time.Now()
						_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).
							WithInt64Column("id", ids).WithFloatVectorColumn("vec", dim, vecs[w]))
						if err != nil {
							errc <- err
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(t0))
						mu.Unlock()
					}
				}(w)
			}
			wg.Wait()
			secs := time.Since(start).Seconds()
			close(errc)
			if err := <-errc; err != nil {
				return err
			}
			rows := batches * batchRows
			mb := float64(rows*dim*4) / 1e6
			slices.Sort(lat)
			emit(map[string]any{
				"bench": "insert", "engine": "tandem", "sync": syncMode, "clients": clients, "dim": dim,
				"batch_rows": batchRows, "rows": rows, "seconds": secs,
				"rows_per_sec": float64(rows) / secs, "vector_mb_per_sec": mb / secs,
				"p50_ms": ms(localgroup.PercentileSorted(lat, 50)), "p99_ms": ms(localgroup.PercentileSorted(lat, 99)),
			})
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&dim, "dim", 768, "vector dimension")
	addBatchRowsFlag(f, &batchRows, 1000, "rows per insert call", "")
	f.IntVar(&clients, "clients", 2, "concurrent clients")
	f.IntVar(&batches, "batches", 200, "insert calls in total")
	f.StringVar(&dataDir, "data-dir", "", "data directory (default: a temporary one, removed afterwards)")
	addWALSyncFlag(f, &syncMode, "fsync")
	return cmd
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func createFlatCollection(ctx context.Context, c *milvusclient.Client, name string, dim int) error {
	return createCollection(ctx, c, name, dim, index.NewFlatIndex(entity.L2))
}

func createCollection(ctx context.Context, c *milvusclient.Client, name string, dim int, idx index.Index) error {
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	return c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", idx)))
}

// searchBench is the configuration of `tandem bench search`.
type searchBench struct {
	datasetName, datasetDir, cacheDir, indexType string
	n, dim, queries, k, clients, ef              int
	anchor                                       bool
}

func newBenchSearchCmd() *cobra.Command {
	var b searchBench
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search QPS (nq=1) and recall@k in the engine and through the official SDK; FLAT is compared with FAISS IndexFlatL2 on the same data",
		Long: `Loads --n base vectors into a collection of an in-process node (FLAT, or
HNSW M=16 efConstruction=200, built and awaited before timing), then runs
--queries searches of top --k, one query per call: in the engine directly
(one goroutine), through gRPC with the official Go SDK (one client), and
with --clients concurrent SDK clients. Prints one JSON object per path on
stdout: qps_1thread (or qps for the multi-client path), recall_at_k of the
results of that path against the exact top k (brute force, or the cached
ground truth of the whole Fashion-MNIST), and for the engine path the heap
growth of the load. With --anchor (FLAT), one more object for FAISS
IndexFlatL2 (python3-faiss) on the same data. Progress goes to stderr.

--dataset fashion-mnist reads Debian's dataset-fashion-mnist package
(apt-get install dataset-fashion-mnist): the first --n of the 60000
training images as the base, the first --queries of the 10000 test images
as queries, converted once into --cache-dir. --dataset random (uniform in
[0,1)^dim) is a poor stand-in for real data: HNSW recall on it is low.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return b.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.datasetName, "dataset", "random", "random or fashion-mnist")
	f.StringVar(&b.datasetDir, "dataset-dir", "", "fashion-mnist: a directory with base.fvecs, query.fvecs (and groundtruth.ivecs) to use instead of the Debian package")
	f.StringVar(&b.cacheDir, "cache-dir", "", "where fashion-mnist is converted once (default $XDG_CACHE_HOME/tandem or ~/.cache/tandem)")
	f.IntVar(&b.n, "n", 60000, "base vectors (random dataset; a limit for fashion-mnist)")
	f.IntVar(&b.dim, "dim", 784, "dimension (random dataset)")
	f.IntVar(&b.queries, "queries", 1000, "query vectors")
	f.IntVar(&b.k, "k", 10, "top k")
	addAnchorFlag(f, &b.anchor, "FLAT: also measure FAISS IndexFlatL2 (python3-faiss) on the same data", false)
	f.StringVar(&b.indexType, "index", "FLAT", "FLAT or HNSW (M=16, efConstruction=200)")
	f.IntVar(&b.ef, "ef", 64, "HNSW search ef")
	f.IntVar(&b.clients, "clients", 2, "concurrent SDK clients for the multi-client QPS")
	return cmd
}

func (b *searchBench) run(ctx context.Context, w io.Writer) error {
	switch {
	case b.k <= 0:
		return fmt.Errorf("--k must be > 0")
	case b.queries <= 0:
		return fmt.Errorf("--queries must be > 0")
	case b.clients <= 0:
		return fmt.Errorf("--clients must be > 0")
	case b.datasetName == "random" && (b.n <= 0 || b.dim <= 0):
		return fmt.Errorf("--n and --dim must be > 0")
	}
	var idx index.Index
	// newAnnParam returns a fresh search parameter: the SDK's AnnParam
	// writes into its own map on every request, so a goroutine must never
	// share one.
	var newAnnParam func() index.AnnParam
	switch b.indexType {
	case "FLAT":
		idx = index.NewFlatIndex(entity.L2)
	case "HNSW":
		idx = index.NewHNSWIndex(entity.L2, 16, 200)
		newAnnParam = func() index.AnnParam { return index.NewHNSWAnnParam(b.ef) }
	default:
		return fmt.Errorf("--index = %q: must be FLAT or HNSW", b.indexType)
	}
	data, err := loadBenchData(b.datasetName, b.datasetDir, b.cacheDir, b.n, b.dim, b.queries)
	if err != nil {
		return err
	}
	base, qs, k := data.base, data.qs, b.k
	node, stop, err := benchNode("", engine.SyncFsync)
	if err != nil {
		return err
	}
	defer stop()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: node.Addr()})
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	const coll = "bench_search"
	if err := createCollection(ctx, c, coll, base.Dim, idx); err != nil {
		return err
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	benchLog("search: loading %d x %d vectors (%s)...", base.N(), base.Dim, b.datasetName)
	for off := 0; off < base.N(); off += 1000 {
		end := min(off+1000, base.N())
		ids := make([]int64, 0, end-off)
		rows := make([][]float32, 0, end-off)
		for i := off; i < end; i++ {
			ids = append(ids, int64(i))
			rows = append(rows, base.Row(i))
		}
		if _, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).
			WithInt64Column("id", ids).WithFloatVectorColumn("vec", base.Dim, rows)); err != nil {
			return err
		}
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err != nil {
		return err
	}
	if err := lt.Await(ctx); err != nil {
		return err
	}
	buildSecs := 0.0
	if newAnnParam != nil {
		// Seal the growing segment so that the index is built, and wait for it.
		benchLog("search: building the HNSW index...")
		t0 := time.Now()
		if _, err := c.Flush(ctx, milvusclient.NewFlushOption(coll)); err != nil {
			return err
		}
		if err := node.Engine().WaitIndexBuilds(ctx); err != nil {
			return err
		}
		buildSecs = time.Since(t0).Seconds()
		benchLog("search: built in %.1fs", buildSecs)
	}
	debug.FreeOSMemory()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rawMB := float64(base.N()*base.Dim*4) / 1e6
	heapMB := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / 1e6

	// Engine directly: one thread, nq=1.
	eng := node.Engine()
	var params map[string]string
	if newAnnParam != nil {
		params = map[string]string{"ef": fmt.Sprint(b.ef)}
	}
	nq := qs.N()
	engIDs := make([][]int64, nq)
	t0 := time.Now()
	for i := 0; i < nq; i++ {
		res, err := eng.Search(ctx, &engine.SearchRequest{Collection: coll, Vectors: [][]float32{qs.Row(i)}, TopK: k, Params: params})
		if err != nil {
			return err
		}
		engIDs[i] = res.GetIds().GetIntId().GetData()
	}
	engQPS := float64(nq) / time.Since(t0).Seconds()
	// Through gRPC with the official SDK: one client, then --clients goroutines.
	sdkIDs := make([][]int64, nq)
	t0 = time.Now()
	if err := sdkSearchAll(ctx, c, coll, qs, k, 1, newAnnParam, sdkIDs); err != nil {
		return err
	}
	sdkQPS := float64(nq) / time.Since(t0).Seconds()
	multiIDs := make([][]int64, nq)
	t0 = time.Now()
	if err := sdkSearchAll(ctx, c, coll, qs, k, b.clients, newAnnParam, multiIDs); err != nil {
		return err
	}
	sdkMultiQPS := float64(nq) / time.Since(t0).Seconds()
	if err := data.groundTruth(k); err != nil {
		return err
	}
	common := map[string]any{"bench": "search", "index": b.indexType, "metric": "L2", "dataset": b.datasetName, "n": base.N(), "dim": base.Dim, "queries": nq, "k": k}
	if newAnnParam != nil {
		common["ef"] = b.ef
		common["build_seconds"] = buildSecs
	}
	out := func(extra map[string]any) {
		m := map[string]any{}
		for k, v := range common {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		bs, _ := json.Marshal(m)
		fmt.Fprintln(w, string(bs))
	}
	out(map[string]any{"engine": "tandem", "path": "engine", "qps_1thread": engQPS, "recall_at_k": recallAtK(engIDs, data.gt, k),
		"heap_mb": heapMB, "raw_vector_mb": rawMB, "memory_ratio": heapMB / rawMB})
	out(map[string]any{"engine": "tandem", "path": "grpc-sdk", "qps_1thread": sdkQPS, "recall_at_k": recallAtK(sdkIDs, data.gt, k)})
	out(map[string]any{"engine": "tandem", "path": "grpc-sdk", "clients": b.clients, "qps": sdkMultiQPS, "recall_at_k": recallAtK(multiIDs, data.gt, k)})
	if b.anchor && b.indexType == "FLAT" {
		fq, err := faissFlatQPS(base, qs, k)
		if err != nil {
			out(map[string]any{"engine": "faiss", "error": err.Error()})
		} else {
			out(map[string]any{"engine": "faiss", "path": "IndexFlatL2", "qps_1thread": fq,
				"tandem_engine_over_faiss": engQPS / fq, "tandem_sdk_over_faiss": sdkQPS / fq})
		}
	}
	return nil
}

// sdkSearchAll runs one SDK search (nq=1, top k) per query on `clients`
// goroutines sharing the client c (query i on goroutine i % clients) and
// stores the ids of query i in ids[i]. Each goroutine makes its own search
// parameter with newAnnParam (nil: none). The first error is returned.
func sdkSearchAll(ctx context.Context, c *milvusclient.Client, coll string, qs *dataset.Vectors, k, clients int,
	newAnnParam func() index.AnnParam, ids [][]int64) error {
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var ap index.AnnParam
			if newAnnParam != nil {
				ap = newAnnParam()
			}
			for i := w; i < qs.N(); i += clients {
				opt := milvusclient.NewSearchOption(coll, k, []entity.Vector{entity.FloatVector(qs.Row(i))}).WithANNSField("vec")
				if ap != nil {
					opt = opt.WithAnnParam(ap)
				}
				rs, err := c.Search(ctx, opt)
				if err == nil && len(rs) != 1 {
					err = fmt.Errorf("bench: search returned %d result sets for 1 query", len(rs))
				}
				if err != nil {
					errc <- err
					return
				}
				got := make([]int64, rs[0].IDs.Len())
				for j := range got {
					if got[j], err = rs[0].IDs.GetAsInt64(j); err != nil {
						errc <- err
						return
					}
				}
				ids[i] = got
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// faissFlatQPS measures FAISS IndexFlatL2, one thread, one query at a time,
// on the same vectors, by running bench/anchors/faiss_flat.py.
func faissFlatQPS(base, qs *dataset.Vectors, k int) (float64, error) {
	dir, err := os.MkdirTemp("", "tandem-anchor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := dataset.WriteFvecs(filepath.Join(dir, "base.fvecs"), base); err != nil {
		return 0, err
	}
	if err := dataset.WriteFvecs(filepath.Join(dir, "query.fvecs"), qs); err != nil {
		return 0, err
	}
	cmd := exec.Command("/usr/bin/python3", "-c", faissFlatScript, dir, fmt.Sprint(k))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("faiss anchor (apt-get install python3-faiss python3-numpy): %w", err)
	}
	var res struct {
		QPS float64 `json:"qps_1thread"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("faiss anchor output %q: %w", out, err)
	}
	return res.QPS, nil
}

const faissFlatScript = `
import json, sys, time
import numpy as np
import faiss
def read_fvecs(p):
    a = np.fromfile(p, dtype='<i4')
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view('<f4')
faiss.omp_set_num_threads(1)
base = read_fvecs(sys.argv[1] + '/base.fvecs')
qs = read_fvecs(sys.argv[1] + '/query.fvecs')
k = int(sys.argv[2])
idx = faiss.IndexFlatL2(base.shape[1])
idx.add(base)
t0 = time.perf_counter()
for i in range(qs.shape[0]):
    idx.search(qs[i:i+1], k)
dt = time.perf_counter() - t0
print(json.dumps({"qps_1thread": qs.shape[0] / dt}))
`
