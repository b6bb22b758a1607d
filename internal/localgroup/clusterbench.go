package localgroup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/coord"
)

// ClusterBenchConfig configures RunClusterBench.
type ClusterBenchConfig struct {
	Binary string // the tandem executable (required)
	Dir    string // working directory for data and logs (required, new or empty)
	// Kills is the number of SIGKILLs of the root coordinator's active
	// (default 20); Groups the group counts of the scale runs (default
	// 1, 2, 4); Duration each scale run's insert and search phase
	// (default 5 s); Dim the vectors' dimension (default 64).
	Kills    int
	Groups   []int
	Duration time.Duration
	Dim      int
	Progress func(format string, args ...any)
}

// ClusterBenchReport is the outcome (JSON field names are the
// machine-readable output).
type ClusterBenchReport struct {
	CPUs  int `json:"cpus"`
	Kills int `json:"kills"`
	// DDL unavailability: from the SIGKILL of the root's active to the
	// success of a CreateCollection issued right after it (ms).
	DDLUnavailMs Summary `json:"ddl_unavailable_ms"`
	// Takeover: from the SIGKILL to the status showing the new root (ms).
	TakeoverMs Summary `json:"takeover_ms"`
	// The data path during the kills: failed upserts and searches, and the
	// longest gap between two successful ones (ms).
	UpsertErrors   int            `json:"upsert_errors"`
	SearchErrors   int            `json:"search_errors"`
	UpsertMaxGapMs float64        `json:"upsert_max_gap_ms"`
	SearchMaxGapMs float64        `json:"search_max_gap_ms"`
	BaselineGapMs  float64        `json:"upsert_max_gap_before_kills_ms"`
	Scale          []ClusterScale `json:"scale"`
}

// ClusterScale is one scale run.
type ClusterScale struct {
	Groups        int     `json:"groups"`
	InsertRowsSec float64 `json:"insert_rows_per_sec"`
	SearchQPS     float64 `json:"search_qps"`
}

// Summary is a distribution's p50, p99 and max.
type Summary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func summarize(v []float64) Summary {
	if len(v) == 0 {
		return Summary{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s)-1)+0.5))] }
	return Summary{P50: q(0.5), P99: q(0.99), Max: s[len(s)-1]}
}

var (
	coordReady        = regexp.MustCompile(`tandem coord serving.* http=(\S+)`)
	clusterProxyReady = regexp.MustCompile(`tandem proxy serving.* listen=(\S+)`)
)

// benchCluster is the processes of one cluster.
type benchCluster struct {
	bin, dir, eps string
	arb           *Proc
	coords        map[string]*Proc
	nodes         []*Proc
	proxy         string
	cli           *clientv3.Client
	logs          string
}

func (b *benchCluster) start(ctx context.Context, name string, args []string, ready *regexp.Regexp) (*Proc, []string, error) {
	p, err := startProc(name, b.bin, args, os.Environ(), filepath.Join(b.logs, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	_, m, _, err := p.WaitLine(wctx, ready, 0)
	if err != nil {
		p.Kill()
		return nil, nil, fmt.Errorf("%s: %w (log %s)", name, err, p.LogPath)
	}
	return p, m, nil
}

// startBenchCluster starts an arbiter, coordinators c1..cN, groups of one
// async node each, and a cluster proxy.
func startBenchCluster(ctx context.Context, bin, dir string, coords, groups int) (*benchCluster, error) {
	b := &benchCluster{bin: bin, dir: dir, coords: map[string]*Proc{}, logs: filepath.Join(dir, "logs")}
	if err := os.MkdirAll(b.logs, 0o755); err != nil {
		return nil, err
	}
	ps, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	b.eps = loopback(ps[0])
	if b.arb, _, err = b.start(ctx, "arbiter", []string{"arbiter", "--name", "a1", "--data-dir", filepath.Join(dir, "arbiter"),
		"--client-listen", loopback(ps[0]), "--peer-listen", loopback(ps[1]), "--initial-cluster", "a1=http://" + loopback(ps[1])}, arbiterReady); err != nil {
		return nil, err
	}
	if b.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{b.eps}, DialTimeout: 5 * time.Second}); err != nil {
		b.close()
		return nil, err
	}
	for i := 1; i <= coords; i++ {
		if err := b.startCoord(ctx, fmt.Sprintf("c%d", i)); err != nil {
			b.close()
			return nil, err
		}
	}
	for g := 1; g <= groups; g++ {
		id := fmt.Sprintf("n%d", g)
		p, _, err := b.start(ctx, id, []string{"node", "--cluster", "cl", "--group", fmt.Sprintf("g%d", g), "--node-id", id,
			"--data-dir", filepath.Join(dir, id), "--sync-mode", "async", "--arbiter", b.eps,
			"--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, nodeReady)
		if err != nil {
			b.close()
			return nil, err
		}
		b.nodes = append(b.nodes, p)
	}
	_, m, err := b.start(ctx, "proxy", []string{"proxy", "--cluster", "cl", "--arbiter", b.eps, "--listen", "127.0.0.1:0", "--http-listen", "off"}, clusterProxyReady)
	if err != nil {
		b.close()
		return nil, err
	}
	b.proxy = m[1]
	return b, nil
}

func (b *benchCluster) startCoord(ctx context.Context, id string) error {
	p, _, err := b.start(ctx, "coord-"+id, []string{"coord", "--cluster", "cl", "--id", id, "--arbiter", b.eps, "--http-listen", "127.0.0.1:0"}, coordReady)
	if err != nil {
		return err
	}
	b.coords[id] = p
	return nil
}

func (b *benchCluster) rootActive(ctx context.Context) string {
	rep, err := coord.ReadStatus(ctx, b.cli, "cl")
	if err != nil {
		return ""
	}
	return rep.Roles[0].Active
}

func (b *benchCluster) close() {
	for _, p := range b.coords {
		p.Kill()
	}
	for _, p := range b.nodes {
		p.Kill()
	}
	if b.arb != nil {
		b.arb.Kill()
	}
	if b.cli != nil {
		b.cli.Close()
	}
}

func (c ClusterBenchConfig) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}

// RunClusterBench measures (1) the root coordinator's takeover over Kills
// SIGKILLs — DDL unavailability and what the data path saw meanwhile —
// and (2) insert throughput and search QPS through the cluster proxy with
// each group count of Groups (one async node a group, one coordinator).
func RunClusterBench(ctx context.Context, cfg ClusterBenchConfig) (*ClusterBenchReport, error) {
	if cfg.Kills == 0 {
		cfg.Kills = 20
	}
	if len(cfg.Groups) == 0 {
		cfg.Groups = []int{1, 2, 4}
	}
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Dim == 0 {
		cfg.Dim = 64
	}
	rep := &ClusterBenchReport{CPUs: runtime.NumCPU(), Kills: cfg.Kills}
	if err := benchTakeover(ctx, cfg, rep); err != nil {
		return nil, err
	}
	for _, g := range cfg.Groups {
		s, err := benchScale(ctx, cfg, g)
		if err != nil {
			return nil, err
		}
		rep.Scale = append(rep.Scale, *s)
	}
	return rep, nil
}

func benchCollection(ctx context.Context, c *milvusclient.Client, name string, dim, shards int) error {
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema).WithShardNum(int32(shards))); err != nil {
		return err
	}
	it, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(name, "vec", index.NewFlatIndex(entity.L2)))
	if err != nil {
		return err
	}
	if err := it.Await(ctx); err != nil {
		return err
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
	if err != nil {
		return err
	}
	return lt.Await(ctx)
}

func randVecs(r *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = r.Float32()
		}
		out[i] = v
	}
	return out
}

// opLog records the completions of one loop.
type opLog struct {
	mu     sync.Mutex
	ok     []time.Time
	errors int
}

func (l *opLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errors++
		return
	}
	l.ok = append(l.ok, time.Now())
}

// maxGap is the longest time between two successes within [from, to].
func (l *opLog) maxGap(from, to time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	prev := from
	for _, t := range l.ok {
		if t.Before(from) || t.After(to) {
			continue
		}
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return float64(gap.Microseconds()) / 1000
}

func benchTakeover(ctx context.Context, cfg ClusterBenchConfig, rep *ClusterBenchReport) error {
	cfg.progress("takeover: starting arbiter, 2 coordinators, 1 group, cluster proxy")
	b, err := startBenchCluster(ctx, cfg.Binary, filepath.Join(cfg.Dir, "takeover"), 2, 1)
	if err != nil {
		return err
	}
	defer b.close()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: b.proxy})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if err := benchCollection(ctx, c, "bench", 8, 2); err != nil {
		return fmt.Errorf("create the bench collection: %w", err)
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ups, srch := &opLog{}, &opLog{}
	wg.Add(2)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 1))
		for id := int64(0); wctx.Err() == nil; id += 10 {
			ids := []int64{id, id + 1, id + 2, id + 3, id + 4, id + 5, id + 6, id + 7, id + 8, id + 9}
			_, err := c.Upsert(wctx, milvusclient.NewColumnBasedInsertOption("bench", column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vec", 8, randVecs(r, 10, 8))))
			if wctx.Err() == nil {
				ups.add(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(2, 2))
		for wctx.Err() == nil {
			_, err := c.Search(wctx, milvusclient.NewSearchOption("bench", 5, []entity.Vector{entity.FloatVector(randVecs(r, 1, 8)[0])}))
			if wctx.Err() == nil {
				srch.add(err)
			}
		}
	}()
	defer func() { stop(); wg.Wait() }()
	warm := time.Now()
	time.Sleep(time.Second) // a baseline second of load before the first kill
	rep.BaselineGapMs = ups.maxGap(warm, time.Now())
	first := time.Now()
	var ddl, takeover []float64
	for i := 0; i < cfg.Kills; i++ {
		root := b.rootActive(ctx)
		if root == "" {
			return fmt.Errorf("kill %d: no root active", i+1)
		}
		t0 := time.Now()
		b.coords[root].Kill()
		done := make(chan float64, 1)
		go func() {
			for {
				if a := b.rootActive(ctx); a != "" && a != root {
					done <- float64(time.Since(t0).Microseconds()) / 1000
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		name := fmt.Sprintf("ddl_%d", i+1)
		schema := entity.NewSchema().WithName(name).
			WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
			WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(4))
		if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema)); err != nil {
			return fmt.Errorf("kill %d: DDL after the kill: %w", i+1, err)
		}
		ddl = append(ddl, float64(time.Since(t0).Microseconds())/1000)
		takeover = append(takeover, <-done)
		if err := b.startCoord(ctx, root); err != nil {
			return err
		}
		cfg.progress("kill %d/%d: root %s killed; DDL served after %.0f ms, takeover %.0f ms", i+1, cfg.Kills, root, ddl[i], takeover[i])
	}
	last := time.Now()
	stop()
	wg.Wait()
	rep.DDLUnavailMs, rep.TakeoverMs = summarize(ddl), summarize(takeover)
	rep.UpsertErrors, rep.SearchErrors = ups.errors, srch.errors
	rep.UpsertMaxGapMs, rep.SearchMaxGapMs = ups.maxGap(first, last), srch.maxGap(first, last)
	return nil
}

func benchScale(ctx context.Context, cfg ClusterBenchConfig, groups int) (*ClusterScale, error) {
	cfg.progress("scale: %d group(s)", groups)
	b, err := startBenchCluster(ctx, cfg.Binary, filepath.Join(cfg.Dir, fmt.Sprintf("scale%d", groups)), 1, groups)
	if err != nil {
		return nil, err
	}
	defer b.close()
	const clients = 4
	var cs []*milvusclient.Client
	for i := 0; i < clients; i++ {
		c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: b.proxy})
		if err != nil {
			return nil, err
		}
		defer c.Close(context.Background())
		cs = append(cs, c)
	}
	if err := benchCollection(ctx, cs[0], "bench", cfg.Dim, 4); err != nil {
		return nil, err
	}
	const batch = 500
	var rows, queries sync.WaitGroup
	var mu sync.Mutex
	inserted, searched := 0, 0
	var firstErr error
	deadline := time.Now().Add(cfg.Duration)
	for i, c := range cs {
		rows.Add(1)
		go func() {
			defer rows.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for base := int64(i) << 40; time.Now().Before(deadline); base += batch {
				ids := make([]int64, batch)
				for j := range ids {
					ids[j] = base + int64(j)
				}
				_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("bench", column.NewColumnInt64("id", ids), column.NewColumnFloatVector("vec", cfg.Dim, randVecs(r, batch, cfg.Dim))))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					inserted += batch
				}
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	rows.Wait()
	insertSecs := time.Since(t0).Seconds()
	if firstErr != nil {
		return nil, fmt.Errorf("insert with %d groups: %w", groups, firstErr)
	}
	deadline = time.Now().Add(cfg.Duration)
	for i, c := range cs {
		queries.Add(1)
		go func() {
			defer queries.Done()
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for time.Now().Before(deadline) {
				_, err := c.Search(ctx, milvusclient.NewSearchOption("bench", 10, []entity.Vector{entity.FloatVector(randVecs(r, 1, cfg.Dim)[0])}))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					searched++
				}
				mu.Unlock()
			}
		}()
	}
	t1 := time.Now()
	queries.Wait()
	searchSecs := time.Since(t1).Seconds()
	if firstErr != nil {
		return nil, fmt.Errorf("search with %d groups: %w", groups, firstErr)
	}
	return &ClusterScale{Groups: groups, InsertRowsSec: float64(inserted) / insertSecs, SearchQPS: float64(searched) / searchSecs}, nil
}
