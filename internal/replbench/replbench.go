// Package replbench is the runner of `tandem bench replication`: insert
// throughput through the official Milvus Go SDK against in-process
// groups (one node; an active and 2 standbys in async mode; the same in
// sync mode), interleaved over rounds, with the active's view of its
// standbys' lag sampled while the inserts run. The command parses flags
// and prints; this package measures.
package replbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/localgroup"
	"github.com/tandem-db/tandem/internal/node"
)

// Config is one measured configuration of `tandem bench replication`.
type Config struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Standbys int    `json:"standbys"`
	// Mode is the acknowledgement mode (node.SyncAsync, node.SyncSync);
	// Replication is off without standbys.
	Mode        string `json:"sync_mode"`
	Replication string `json:"replication"`
}

var Configs = []Config{
	{Name: "no_standby", Label: "1 node, no standby", Standbys: 0, Mode: node.SyncAsync, Replication: node.ReplicationOff},
	{Name: "async", Label: "active + 2 standbys, async", Standbys: 2, Mode: node.SyncAsync, Replication: node.ReplicationOn},
	{Name: "sync", Label: "active + 2 standbys, sync", Standbys: 2, Mode: node.SyncSync, Replication: node.ReplicationOn},
}

// Options are the settings of a benchmark (the command's flags); the
// exported JSON fields are echoed in Report.Settings.
type Options struct {
	Dim             int     `json:"dim"`
	BatchRows       int     `json:"batch_rows"`
	Clients         int     `json:"clients"`
	Batches         int     `json:"batches,omitempty"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	Rounds          int     `json:"rounds"`
	WarmupPerClient int     `json:"warmup_inserts_per_client"`
	Fsync           bool    `json:"fsync"`
	MinSyncStandbys int     `json:"min_sync_standbys"`
	LagIntervalMS   float64 `json:"lag_sample_interval_ms"`
	ClockIntervalMS float64 `json:"lag_clock_interval_ms"`

	// Duration, if > 0, runs each configuration this long instead of
	// Batches inserts; LagEvery is how often the active's standby lag is
	// sampled (> 0); DataDir is the parent of the runs' data ("" = a
	// temporary directory); ProfileDir, if set, gets a CPU profile of each
	// run's timed part.
	Duration   time.Duration `json:"-"`
	LagEvery   time.Duration `json:"-"`
	DataDir    string        `json:"-"`
	ProfileDir string        `json:"-"`
}

// RunResult is one configuration run (one round).
type RunResult struct {
	Round          int     `json:"round"`
	Rows           int     `json:"rows"`
	Inserts        int     `json:"inserts"`
	Seconds        float64 `json:"seconds"`
	RowsPerSec     float64 `json:"rows_per_sec"`
	VectorMBPerSec float64 `json:"vector_mb_per_sec"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	// SetupSeconds: arbiter + nodes started, active elected, standbys
	// streaming (and in the sync set), collection created, warm-up done.
	SetupSeconds float64 `json:"setup_seconds"`
	// DrainMS: from the last acknowledged insert until every standby has
	// the active's last LSN durable (replicated configurations).
	DrainMS *float64 `json:"drain_ms,omitempty"`
	LastLSN uint64   `json:"last_lsn"`
	// CPUSeconds is the process's CPU time (user+system: the client, every
	// node and the arbiter) during the timed part; CPUUtil = CPUSeconds /
	// Seconds (at most the number of CPUs). DiskWriteMB is what the process
	// caused to be written to storage meanwhile (/proc/self/io).
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUSecondsToDrain also counts the standbys' catch-up after the last
	// insert (until every standby has everything durable).
	CPUSecondsToDrain float64 `json:"cpu_seconds_to_drain"`
	CPUUtil           float64 `json:"cpu_util"`
	DiskWriteMB       float64 `json:"disk_write_mb"`
	Load1             float64 `json:"loadavg_1m_after"`
	SyncSize          int     `json:"sync_set_standbys,omitempty"`

	lat []time.Duration
	lag *lagSamples
}

// lagSamples are the active's view of its standbys, one entry per
// standby per sample.
type lagSamples struct {
	status []float64 // lag_seconds from node Status (the node's own clock)
	clock  []float64 // lag in seconds from this benchmark's finer clock
	lsn    []float64 // lag_lsn
}

func (l *lagSamples) add(o *lagSamples) {
	l.status = append(l.status, o.status...)
	l.clock = append(l.clock, o.clock...)
	l.lsn = append(l.lsn, o.lsn...)
}

// Dist is p50/p99/max of a sample.
type Dist struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func distOf(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Dist{P50: localgroup.PercentileSorted(s, 50), P99: localgroup.PercentileSorted(s, 99), Max: s[len(s)-1]}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// LagReport is the JSON form of lagSamples.
type LagReport struct {
	Samples int `json:"samples"`
	// StatusSeconds is Status().Replication.Standbys[].lag_seconds: the
	// node samples its applied LSN every loop tick (50 ms), so it
	// understates a lag by up to one tick.
	StatusSeconds Dist `json:"status_lag_seconds"`
	// ClockSeconds is the same lag against this benchmark's clock of the
	// active's applied LSN (sampled every lag_clock_interval_ms): now
	// minus when the first record the standby lacks (durable) was applied
	// on the active.
	ClockSeconds Dist `json:"clock_lag_seconds"`
	LSN          Dist `json:"lag_lsn"`
}

func (l *lagSamples) report() *LagReport {
	if l == nil {
		return nil
	}
	return &LagReport{Samples: len(l.lsn), StatusSeconds: distOf(l.status), ClockSeconds: distOf(l.clock), LSN: distOf(l.lsn)}
}

// ConfigReport is one configuration's figures over every round.
type ConfigReport struct {
	Config
	// Medians over the rounds.
	RowsPerSec     float64 `json:"rows_per_sec"`
	VectorMBPerSec float64 `json:"vector_mb_per_sec"`
	MinMBPerSec    float64 `json:"min_vector_mb_per_sec"`
	MaxMBPerSec    float64 `json:"max_vector_mb_per_sec"`
	Seconds        float64 `json:"seconds"`
	// Per-insert latency over every insert of every round.
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	DrainMS float64 `json:"drain_ms,omitempty"` // median
	// CPU (medians): cores busy in the whole process while inserting,
	// and CPU milliseconds per MB of vectors inserted (client + every
	// node + arbiter, up to the end of the standbys' catch-up);
	// DiskWriteMB per run (median, timed part).
	CPUUtil     float64 `json:"cpu_util"`
	CPUMSPerMB  float64 `json:"cpu_ms_per_mb"`
	DiskWriteMB float64 `json:"disk_write_mb"`
	// Lag is the active's view of its standbys while the inserts ran.
	Lag    *LagReport  `json:"lag,omitempty"`
	Rounds []RunResult `json:"rounds"`
}

// Report is everything one benchmark measured (the JSON of --json).
type Report struct {
	Bench    string             `json:"bench"`
	Engine   string             `json:"engine"`
	Settings Options            `json:"settings"`
	Machine  map[string]any     `json:"machine"`
	Configs  []ConfigReport     `json:"configs"`
	Ratios   map[string]float64 `json:"ratios"`
	// Target: sync >= 0.8x no-standby for batched inserts.
	SyncTarget    float64    `json:"sync_target_ratio"`
	SyncMeetsGoal bool       `json:"sync_meets_target"`
	AsyncLag      *LagReport `json:"async_lag"`
	TotalSeconds  float64    `json:"total_seconds"`
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute load (nil if unreadable).
func loadavg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l [3]float64
	if _, err := fmt.Sscan(string(b), &l[0], &l[1], &l[2]); err != nil {
		return nil
	}
	return l[:]
}

// Run measures every configuration of Configs, interleaved, o.Rounds
// times (each run starts a fresh arbiter and group under o.DataDir) and
// reports the figures; progress gets one line per run. Options are
// validated by the caller (every count > 0, LagEvery > 0).
func Run(ctx context.Context, o Options, progress io.Writer) (*Report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	base := o.DataDir
	if base == "" {
		d, err := os.MkdirTemp("", "tandem-bench-repl-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		base = d
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	// Pre-generate one batch per client (seeded: the same data for every
	// configuration); primary keys differ per call.
	vecs := make([][][]float32, o.Clients)
	for w := range vecs {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		vecs[w] = make([][]float32, o.BatchRows)
		for i := range vecs[w] {
			v := make([]float32, o.Dim)
			for j := range v {
				v[j] = r.Float32()
			}
			vecs[w][i] = v
		}
	}
	load0 := loadavg()
	t0 := time.Now()
	results := make([][]RunResult, len(Configs))
	for round := 1; round <= o.Rounds; round++ {
		for ci, c := range Configs {
			dir := filepath.Join(base, fmt.Sprintf("r%d-%s", round, c.Name))
			res, err := runReplConfig(ctx, o, c, dir, vecs)
			os.RemoveAll(dir)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, c.Name, err)
			}
			res.Round = round
			if l := loadavg(); l != nil {
				res.Load1 = l[0]
			}
			results[ci] = append(results[ci], res)
			drain := ""
			if res.DrainMS != nil {
				drain = fmt.Sprintf(", drain %.0f ms", *res.DrainMS)
			}
			fmt.Fprintf(progress, "round %d/%d %-28s %7.1f MB/s %8.0f rows/s  p50 %6.1f ms  p99 %6.1f ms  (%d inserts in %.2fs, cpu %.2f cores, disk writes %.0f MB, setup %.1fs%s, load %.2f)\n",
				round, o.Rounds, c.Label, res.VectorMBPerSec, res.RowsPerSec, res.P50MS, res.P99MS, res.Inserts, res.Seconds, res.CPUUtil, res.DiskWriteMB, res.SetupSeconds, drain, res.Load1)
		}
	}
	rep := &Report{
		Bench: "replication", Engine: "tandem", Settings: o, SyncTarget: 0.8,
		Machine: map[string]any{"nproc": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
			"loadavg_before": load0, "loadavg_after": loadavg(), "goos": runtime.GOOS, "goarch": runtime.GOARCH},
		Ratios:       map[string]float64{},
		TotalSeconds: time.Since(t0).Seconds(),
	}
	byName := map[string]*ConfigReport{}
	for ci, c := range Configs {
		cr := ConfigReport{Config: c, Rounds: results[ci]}
		var mbs, rps, secs, drains, util, cpuMB, disk []float64
		var lat []time.Duration
		var lag *lagSamples
		for _, r := range results[ci] {
			mbs = append(mbs, r.VectorMBPerSec)
			rps = append(rps, r.RowsPerSec)
			secs = append(secs, r.Seconds)
			util = append(util, r.CPUUtil)
			cpuMB = append(cpuMB, r.CPUSecondsToDrain*1e3/(r.VectorMBPerSec*r.Seconds))
			disk = append(disk, r.DiskWriteMB)
			lat = append(lat, r.lat...)
			if r.DrainMS != nil {
				drains = append(drains, *r.DrainMS)
			}
			if r.lag != nil {
				if lag == nil {
					lag = &lagSamples{}
				}
				lag.add(r.lag)
			}
		}
		cr.VectorMBPerSec, cr.RowsPerSec, cr.Seconds = median(mbs), median(rps), median(secs)
		cr.MinMBPerSec, cr.MaxMBPerSec = slices.Min(mbs), slices.Max(mbs)
		slices.Sort(lat)
		if len(lat) > 0 {
			cr.P50MS, cr.P99MS = ms(localgroup.PercentileSorted(lat, 50)), ms(localgroup.PercentileSorted(lat, 99))
		}
		cr.DrainMS = median(drains)
		cr.CPUUtil, cr.CPUMSPerMB, cr.DiskWriteMB = median(util), median(cpuMB), median(disk)
		cr.Lag = lag.report()
		rep.Configs = append(rep.Configs, cr)
	}
	for i := range rep.Configs {
		byName[rep.Configs[i].Name] = &rep.Configs[i]
	}
	if b := byName["no_standby"].VectorMBPerSec; b > 0 {
		rep.Ratios["sync_over_no_standby"] = byName["sync"].VectorMBPerSec / b
		rep.Ratios["async_over_no_standby"] = byName["async"].VectorMBPerSec / b
	}
	if a := byName["async"].VectorMBPerSec; a > 0 {
		rep.Ratios["sync_over_async"] = byName["sync"].VectorMBPerSec / a
	}
	rep.SyncMeetsGoal = rep.Ratios["sync_over_no_standby"] >= rep.SyncTarget
	rep.AsyncLag = byName["async"].Lag
	return rep, nil
}

// PrintReport writes rep as a table for a person to read.
func PrintReport(w io.Writer, rep *Report) {
	o := rep.Settings
	amount := fmt.Sprintf("%d inserts/run", o.Batches)
	if o.DurationSeconds > 0 {
		amount = fmt.Sprintf("%gs/run", o.DurationSeconds)
	}
	fmt.Fprintf(w, "\ntandem bench replication: dim %d, %d rows/insert, %d clients, %s, fsync on, %d round(s) interleaved; throughput = median over rounds\n",
		o.Dim, o.BatchRows, o.Clients, amount, o.Rounds)
	fmt.Fprintf(w, "%-28s %8s %8s %8s %8s %8s %8s %9s %6s %9s %8s\n", "configuration", "MB/s", "min", "max", "rows/s", "p50 ms", "p99 ms", "vs 1 node",
		"cores", "cpu ms/MB", "disk MB")
	base := rep.Configs[0].VectorMBPerSec
	for _, c := range rep.Configs {
		ratio := 0.0
		if base > 0 {
			ratio = c.VectorMBPerSec / base
		}
		fmt.Fprintf(w, "%-28s %8.1f %8.1f %8.1f %8.0f %8.1f %8.1f %8.2fx %6.2f %9.1f %8.0f\n", c.Label, c.VectorMBPerSec, c.MinMBPerSec, c.MaxMBPerSec,
			c.RowsPerSec, c.P50MS, c.P99MS, ratio, c.CPUUtil, c.CPUMSPerMB, c.DiskWriteMB)
	}
	verdict := "MET"
	if !rep.SyncMeetsGoal {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "ratios: sync/no-standby %.2fx (target >= %.1fx: %s), async/no-standby %.2fx, sync/async %.2fx\n",
		rep.Ratios["sync_over_no_standby"], rep.SyncTarget, verdict, rep.Ratios["async_over_no_standby"], rep.Ratios["sync_over_async"])
	for _, c := range rep.Configs {
		if c.Lag == nil {
			continue
		}
		l := c.Lag
		fmt.Fprintf(w, "%s: standby lag seen by the active, sampled every %gms while inserting (%d per-standby samples):\n", c.Label, o.LagIntervalMS, l.Samples)
		fmt.Fprintf(w, "  lag_seconds (node status)   p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", l.StatusSeconds.P50*1e3, l.StatusSeconds.P99*1e3, l.StatusSeconds.Max*1e3)
		fmt.Fprintf(w, "  lag (bench clock, %gms)     p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", o.ClockIntervalMS, l.ClockSeconds.P50*1e3, l.ClockSeconds.P99*1e3, l.ClockSeconds.Max*1e3)
		fmt.Fprintf(w, "  lag_lsn (records)           p50 %7.0f     p99 %7.0f     max %7.0f\n", l.LSN.P50, l.LSN.P99, l.LSN.Max)
		fmt.Fprintf(w, "  after the last insert, both standbys had everything durable in %.0f ms (median)\n", c.DrainMS)
	}
	var per []string
	for _, c := range rep.Configs {
		var xs []string
		for _, r := range c.Rounds {
			xs = append(xs, fmt.Sprintf("%.1f", r.VectorMBPerSec))
		}
		per = append(per, c.Name+" "+strings.Join(xs, "/"))
	}
	fmt.Fprintf(w, "per round MB/s: %s\n", strings.Join(per, ", "))
	fmt.Fprintf(w, "machine: %v CPUs (GOMAXPROCS %v), load average before %v, after %v; all nodes share these CPUs; total %.0fs\n",
		rep.Machine["nproc"], rep.Machine["gomaxprocs"], rep.Machine["loadavg_before"], rep.Machine["loadavg_after"], rep.TotalSeconds)
}

// replGroup is one fresh configuration: an embedded arbiter and its nodes.
type replGroup struct {
	arb    *arbiter.Member
	nodes  []*node.Node // nodes[0] is the active
	active *node.Node
}

func (g *replGroup) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Standbys first, so that closing the active triggers no election.
	for i := len(g.nodes) - 1; i >= 0; i-- {
		g.nodes[i].Close(ctx)
	}
	if g.arb != nil {
		g.arb.Close()
	}
}

// startReplGroup starts the arbiter and n1, waits until n1 is the active,
// then starts the standbys and waits until both stream from it.
func startReplGroup(ctx context.Context, o Options, c Config, dir string) (g *replGroup, err error) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	g = &replGroup{}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	acfg := arbiter.LocalMemberConfig("arb", filepath.Join(dir, "arbiter"))
	acfg.Logger = discard
	if g.arb, err = arbiter.StartMember(ctx, acfg); err != nil {
		return g, fmt.Errorf("arbiter: %w", err)
	}
	eps := g.arb.ClientEndpoints()
	peer := "127.0.0.1:0"
	if c.Standbys == 0 {
		peer = "off"
	}
	start := func(id string) (*node.Node, error) {
		cfg := node.Config{
			Group: "bench", NodeID: id,
			Engine:      engine.Config{DataDir: filepath.Join(dir, id), Sync: engine.SyncFsync, Logger: discard},
			Listen:      "127.0.0.1:0",
			PeerListen:  peer,
			HTTPListen:  "off",
			Arbiter:     eps,
			Dial:        arbiter.DialOptions{Logger: discard},
			Logger:      discard,
			Version:     "bench",
			Replication: c.Replication,
			SyncMode:    c.Mode,
		}
		if c.Mode == node.SyncSync {
			cfg.MinSyncStandbys = o.MinSyncStandbys
		}
		n, err := node.Start(cfg)
		if err != nil {
			return nil, err
		}
		g.nodes = append(g.nodes, n)
		return n, nil
	}
	n1, err := start("n1")
	if err != nil {
		return g, err
	}
	if _, err := n1.Await(ctx, func(st node.Status) bool { return st.Role == "active" && st.WritesOpen }); err != nil {
		return g, fmt.Errorf("n1 did not become the active: %w", err)
	}
	g.active = n1
	for i := 1; i <= c.Standbys; i++ {
		if _, err := start(fmt.Sprintf("n%d", i+1)); err != nil {
			return g, err
		}
	}
	return g, g.awaitStandbys(ctx, c)
}

// awaitStandbys waits until every standby streams from the active with
// nothing outstanding and, in sync mode, is in the written sync set.
func (g *replGroup) awaitStandbys(ctx context.Context, c Config) error {
	if c.Standbys == 0 {
		return nil
	}
	var st node.Status
	for {
		st = g.active.Status()
		if rs := st.Replication; rs != nil && len(rs.Standbys) == c.Standbys {
			ok := true
			for _, s := range rs.Standbys {
				ok = ok && s.LagLSN == 0 && s.DurableLSN >= st.AppliedLSN
			}
			if c.Mode == node.SyncSync {
				ok = ok && rs.Sync != nil && rs.Sync.Written && len(rs.Sync.Standbys) == c.Standbys && len(rs.Sync.Joining) == 0
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(st.Replication)
			return fmt.Errorf("standbys not streaming (and in sync) in time: %w; replication status %s", ctx.Err(), b)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// LagClockEvery is how often the benchmark's clock samples the active's
// applied LSN.
const LagClockEvery = time.Millisecond

// benchLagClock remembers when the active's applied LSN reached each value.
type benchLagClock struct {
	lsn []uint64
	at  []time.Time
}

func (c *benchLagClock) observe(lsn uint64, now time.Time) {
	if n := len(c.lsn); n > 0 && c.lsn[n-1] >= lsn {
		return
	}
	c.lsn = append(c.lsn, lsn)
	c.at = append(c.at, now)
}

// lag is how long ago the first record after durable was applied (0 when
// the standby has every observed record).
func (c *benchLagClock) lag(durable uint64, now time.Time) time.Duration {
	i, _ := slices.BinarySearch(c.lsn, durable+1)
	if i == len(c.lsn) {
		return 0
	}
	return max(0, now.Sub(c.at[i]))
}

// sampleLag samples the active's standby lag until ctx ends.
func sampleLag(ctx context.Context, active *node.Node, every time.Duration) *lagSamples {
	out := &lagSamples{}
	var clock benchLagClock
	eng := active.Engine()
	tick := time.NewTicker(LagClockEvery)
	defer tick.Stop()
	next := time.Now().Add(every)
	for {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		now := time.Now()
		clock.observe(eng.LastLSN(), now)
		if now.Before(next) {
			continue
		}
		next = now.Add(every)
		st := active.Status()
		if st.Replication == nil {
			continue
		}
		now = time.Now()
		for _, s := range st.Replication.Standbys {
			out.status = append(out.status, s.LagSeconds)
			out.lsn = append(out.lsn, float64(s.LagLSN))
			out.clock = append(out.clock, clock.lag(s.DurableLSN, now).Seconds())
		}
	}
}

func runReplConfig(ctx context.Context, o Options, c Config, dir string, vecs [][][]float32) (RunResult, error) {
	var res RunResult
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	g, err := startReplGroup(sctx, o, c, dir)
	if err != nil {
		return res, err
	}
	defer g.close()
	clients := make([]*milvusclient.Client, o.Clients)
	for i := range clients {
		if clients[i], err = milvusclient.New(sctx, &milvusclient.ClientConfig{Address: g.active.Addr()}); err != nil {
			return res, err
		}
		defer clients[i].Close(context.Background())
	}
	const coll = "bench_replication"
	if err := createFlatCollection(sctx, clients[0], coll, o.Dim); err != nil {
		return res, err
	}
	var nextBatch atomic.Int64
	insert := func(ctx context.Context, w int, ids []int64) error {
		b := int(nextBatch.Add(1) - 1)
		for i := range ids {
			ids[i] = int64(b*o.BatchRows + i)
		}
		ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		_, err := clients[w].Insert(ictx, milvusclient.NewColumnBasedInsertOption(coll).
			WithInt64Column("id", ids).WithFloatVectorColumn("vec", o.Dim, vecs[w]))
		return err
	}
	for w := range o.Clients {
		ids := make([]int64, o.BatchRows)
		for range o.WarmupPerClient {
			if err := insert(sctx, w, ids); err != nil {
				return res, fmt.Errorf("warm-up insert: %w", err)
			}
		}
	}
	if err := g.awaitStandbys(sctx, c); err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(t0).Seconds()
	if c.Mode == node.SyncSync {
		if rs := g.active.Status().Replication; rs != nil && rs.Sync != nil {
			res.SyncSize = len(rs.Sync.Standbys)
		}
	}

	stopProfile := func() {}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return res, err
		}
		pf, err := os.Create(filepath.Join(o.ProfileDir, fmt.Sprintf("cpu-%s.pprof", filepath.Base(dir))))
		if err != nil {
			return res, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return res, err
		}
		stopProfile = sync.OnceFunc(pprof.StopCPUProfile)
		defer stopProfile()
	}

	// The measured part.
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan *lagSamples, 1)
	go func() { lagDone <- sampleLag(lagCtx, g.active, o.LagEvery) }()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		inserted atomic.Int64
		wg       sync.WaitGroup
	)
	errc := make(chan error, o.Clients)
	var budget atomic.Int64 // inserts left in --batches mode
	budget.Store(int64(o.Batches))
	cpu0, wr0 := cpuTime(), diskWriteBytes()
	start := time.Now()
	deadline := start.Add(o.Duration)
	for w := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]int64, o.BatchRows)
			for {
				if o.Duration > 0 {
					if !time.Now().Before(deadline) {
						return
					}
				} else if budget.Add(-1) < 0 {
					return
				}
				t := time.Now()
				if err := insert(ctx, w, ids); err != nil {
					errc <- err
					return
				}
				d := time.Since(t)
				inserted.Add(1)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	end := time.Now()
	stopProfile()
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	res.CPUUtil = res.CPUSeconds / secs
	res.DiskWriteMB = float64(diskWriteBytes()-wr0) / 1e6
	close(errc)
	if err := <-errc; err != nil {
		stopLag()
		<-lagDone
		return res, err
	}
	last := g.active.Engine().LastLSN()
	if c.Standbys > 0 {
		// Drain: until every standby has the active's last LSN durable.
		dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	drain:
		for {
			done := true
			rs := g.active.Status().Replication
			if rs == nil || len(rs.Standbys) < c.Standbys {
				done = false
			} else {
				for _, s := range rs.Standbys {
					done = done && s.DurableLSN >= last
				}
			}
			if done {
				d := float64(time.Since(end).Microseconds()) / 1000
				res.DrainMS = &d
				break
			}
			select {
			case <-dctx.Done():
				break drain
			case <-time.After(time.Millisecond):
			}
		}
		dcancel()
	}
	res.CPUSecondsToDrain = (cpuTime() - cpu0).Seconds()
	stopLag()
	samples := <-lagDone
	if c.Standbys > 0 {
		res.lag = samples
	}
	n := int(inserted.Load())
	if n == 0 {
		return res, errors.New("no insert completed")
	}
	slices.Sort(lat)
	res.lat = lat
	res.Inserts, res.Rows, res.Seconds, res.LastLSN = n, n*o.BatchRows, secs, last
	res.RowsPerSec = float64(res.Rows) / secs
	res.VectorMBPerSec = float64(res.Rows*o.Dim*4) / 1e6 / secs
	res.P50MS, res.P99MS = ms(localgroup.PercentileSorted(lat, 50)), ms(localgroup.PercentileSorted(lat, 99))
	return res, nil
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// diskWriteBytes is write_bytes of /proc/self/io (0 where unavailable).
func diskWriteBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// ms is d in milliseconds (microsecond resolution).
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// createFlatCollection creates name (int64 primary key "id", float
// vector "vec" of dim) with a FLAT L2 index, as `tandem bench insert`
// does.
func createFlatCollection(ctx context.Context, c *milvusclient.Client, name string, dim int) error {
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	return c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewFlatIndex(entity.L2))))
}
