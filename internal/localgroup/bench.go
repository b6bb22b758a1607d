package localgroup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// Failover bench modes.
const (
	ModeKill       = "kill"       // SIGKILL the active
	ModeSwitchover = "switchover" // `tandem switchover`: a planned hand-over
	// ModeArbiterLeader SIGKILLs the arbiter member that is etcd's leader
	// (three members needed) and restarts it: leases outlive an etcd
	// leader change, so the group must keep its active (no role change).
	ModeArbiterLeader = "arbiter-leader"
)

// Targets the failover bench compares against.
const (
	TargetKillP99       = time.Second            // client-observed write unavailability after a SIGKILL (defaults, sync mode)
	TargetSwitchoverP99 = 300 * time.Millisecond // write pause of a switchover
	// TargetArbiterLeaderP99: write pause while the arbiter elects a new
	// etcd leader (the active keeps its lease; it may self-fence briefly
	// if renewals stall longer than its margin).
	TargetArbiterLeaderP99 = time.Second
)

// BenchConfig configures RunFailoverBench.
type BenchConfig struct {
	Cluster  Options
	Mode     string // ModeKill (default), ModeSwitchover or ModeArbiterLeader
	Trials   int    // default 20
	ViaProxy bool   // the writer talks only to a proxy (Cluster.Proxies >= 1)
	// Writer: rows per upsert (default 10), vector dimension (default 8),
	// call timeout (default 1s direct, 15s via the proxy: the proxy holds
	// calls while there is no active), pause between calls (default 2ms).
	Batch, Dim  int
	CallTimeout time.Duration
	Pause       time.Duration
	// Settle is how long the writer keeps writing after the first
	// acknowledgement following the kill before the measurement window
	// closes and the killed node restarts (default 1s).
	Settle time.Duration
	// TrialTimeout bounds each step of a trial (default 60s).
	TrialTimeout time.Duration
	// Progress receives one line per step (may be nil).
	Progress func(format string, args ...any)
}

// Trial is the outcome of one kill (or switchover).
type Trial struct {
	Trial     int    `json:"trial"`
	From      string `json:"from"` // the active before
	FromEpoch uint64 `json:"from_epoch"`
	To        string `json:"to"` // the active after
	ToEpoch   uint64 `json:"to_epoch"`
	// UnavailableMs: kill mode, from the kill to the first acknowledged
	// write after it; switchover mode (where the old active acknowledges
	// writes until it pauses), the write pause: MaxGapMs.
	UnavailableMs float64 `json:"unavailable_ms"`
	// MaxGapMs: the longest time between two consecutive acknowledged
	// writes around the event (the write pause).
	MaxGapMs float64 `json:"max_gap_ms"`
	// WritesOpenMs: from the kill (or the command's start) to the new
	// active's "writes open" log line (server side); -1 if not seen.
	WritesOpenMs float64 `json:"writes_open_ms"`
	// ServerPauseMs: switchover only, the old active's own account of how
	// long it refused writes (the command's paused_ms).
	ServerPauseMs float64 `json:"server_pause_ms,omitempty"`
	// RejoinMs: from restarting the killed node (or the switchover's end)
	// until the sync set held all members again; RejoinMaxGapMs is the
	// longest write gap meanwhile.
	RejoinMs       float64 `json:"rejoin_ms"`
	RejoinMaxGapMs float64 `json:"rejoin_max_gap_ms"`
	// FailedWrites: calls that failed during the trial.
	FailedWrites int `json:"failed_writes"`
	// AckedRows: acknowledged rows so far (all trials); Lost: those of
	// them missing on the new active that were not missing before.
	AckedRows int `json:"acked_rows"`
	Lost      int `json:"lost"`
	// RoleChanged: arbiter-leader mode, the group's leader or epoch
	// changed (a spurious failover).
	RoleChanged bool `json:"role_changed,omitempty"`
}

// BenchReport is the whole result.
type BenchReport struct {
	Bench          string   `json:"bench"` // "failover"
	Mode           string   `json:"mode"`
	ViaProxy       bool     `json:"via_proxy"`
	Nodes          int      `json:"nodes"`
	Arbiters       int      `json:"arbiters"`
	LeaseTTLMs     float64  `json:"lease_ttl_ms"` // 0: the node's default
	Batch          int      `json:"batch_rows"`
	ArbiterArgs    []string `json:"arbiter_args,omitempty"`
	NodeArgs       []string `json:"node_args,omitempty"`
	Trials         []Trial  `json:"trials"`
	Unavailable    Dist     `json:"unavailable_ms"`
	MaxGap         Dist     `json:"max_gap_ms"`
	WritesOpen     Dist     `json:"writes_open_ms"`
	ServerPause    *Dist    `json:"server_pause_ms,omitempty"` // switchover mode
	Rejoin         Dist     `json:"rejoin_ms"`
	AckedRows      int      `json:"acked_rows"`
	LostTotal      int      `json:"lost_total"`
	FailedWrites   int      `json:"failed_writes"`
	RoleChanges    int      `json:"role_changes"` // arbiter-leader mode: trials with a leader or epoch change (target 0)
	TargetP99Ms    float64  `json:"target_p99_ms"`
	TargetMetric   string   `json:"target_metric"` // which distribution the p99 target applies to
	TargetLost     int      `json:"target_lost"`
	MeetsP99       bool     `json:"meets_p99"`
	MeetsLost      bool     `json:"meets_lost"`
	Error          string   `json:"error,omitempty"` // set when the bench stopped early
	DurationSecond float64  `json:"duration_s"`
}

// Summarize fills the distributions, totals and verdicts from Trials.
func (r *BenchReport) Summarize() {
	var un, gap, wo, rj, sp []time.Duration
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	r.LostTotal, r.FailedWrites, r.RoleChanges = 0, 0, 0
	for _, t := range r.Trials {
		un = append(un, ms(t.UnavailableMs))
		gap = append(gap, ms(t.MaxGapMs))
		if t.WritesOpenMs >= 0 {
			wo = append(wo, ms(t.WritesOpenMs))
		}
		rj = append(rj, ms(t.RejoinMs))
		sp = append(sp, ms(t.ServerPauseMs))
		r.LostTotal += t.Lost
		r.FailedWrites += t.FailedWrites
		if t.RoleChanged {
			r.RoleChanges++
		}
		r.AckedRows = max(r.AckedRows, t.AckedRows)
	}
	r.Unavailable, r.MaxGap, r.WritesOpen, r.Rejoin = Summarize(un), Summarize(gap), Summarize(wo), Summarize(rj)
	target := r.Unavailable
	r.TargetMetric, r.TargetP99Ms = "unavailable_ms", Ms(TargetKillP99)
	if r.Mode == ModeSwitchover {
		d := Summarize(sp)
		r.ServerPause = &d
		target = r.MaxGap
		r.TargetMetric, r.TargetP99Ms = "max_gap_ms", Ms(TargetSwitchoverP99)
	}
	if r.Mode == ModeArbiterLeader {
		target = r.MaxGap
		r.TargetMetric, r.TargetP99Ms = "max_gap_ms", Ms(TargetArbiterLeaderP99)
	}
	r.MeetsP99 = target.N > 0 && target.P99 <= r.TargetP99Ms
	if r.Mode == ModeArbiterLeader && r.RoleChanges > 0 {
		r.MeetsP99 = false // a spurious failover fails the mode whatever the gap
	}
	r.MeetsLost = r.LostTotal <= r.TargetLost
}

// switchoverResult is `tandem switchover --json`'s answer.
type switchoverResult struct {
	From     string  `json:"from"`
	To       string  `json:"to"`
	Epoch    uint64  `json:"epoch"`
	PausedMs float64 `json:"paused_ms"`
	TotalMs  float64 `json:"total_ms"`
}

// ParseSwitchoverJSON parses the one JSON object `tandem switchover
// --json` prints.
func ParseSwitchoverJSON(out []byte) (from, to string, epoch uint64, pausedMs float64, err error) {
	var r switchoverResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return "", "", 0, 0, fmt.Errorf("switchover output %q: %w", out, err)
	}
	if r.To == "" {
		return "", "", 0, 0, fmt.Errorf("switchover output %q: no target", out)
	}
	return r.From, r.To, r.Epoch, r.PausedMs, nil
}

// CheckSwitchover reports whether bin has a working `switchover` command.
func CheckSwitchover(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "switchover", "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("`tandem switchover` is not available in %s (%v): %s", bin, err, firstLine(string(out)))
	}
	if !strings.Contains(string(out), "--json") {
		return fmt.Errorf("`tandem switchover` in %s has no --json flag", bin)
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// RunFailoverBench starts a local group, runs a writer against it and
// measures cfg.Trials failovers (or switchovers). It returns the report
// so far together with an error if a trial could not complete.
func RunFailoverBench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeKill
	}
	if cfg.Mode != ModeKill && cfg.Mode != ModeSwitchover && cfg.Mode != ModeArbiterLeader {
		return nil, fmt.Errorf("mode %q: must be %s, %s or %s", cfg.Mode, ModeKill, ModeSwitchover, ModeArbiterLeader)
	}
	if cfg.Mode == ModeArbiterLeader && cfg.Cluster.Arbiters < 3 {
		return nil, fmt.Errorf("mode %s needs --arbiters 3 (a quorum must survive the kill), not %d", ModeArbiterLeader, cfg.Cluster.Arbiters)
	}
	if cfg.Trials <= 0 {
		cfg.Trials = 20
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 10
	}
	if cfg.Dim <= 0 {
		cfg.Dim = 8
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = time.Second
		if cfg.ViaProxy {
			cfg.CallTimeout = 15 * time.Second
		}
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 2 * time.Millisecond
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.TrialTimeout <= 0 {
		cfg.TrialTimeout = 60 * time.Second
	}
	if cfg.ViaProxy && cfg.Cluster.Proxies == 0 {
		cfg.Cluster.Proxies = 1
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			cfg.Progress(format, args...)
		}
	}
	copts, err := cfg.Cluster.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Mode == ModeSwitchover {
		if err := CheckSwitchover(copts.Binary); err != nil {
			return nil, err
		}
	}
	QuietSDK()
	rep := &BenchReport{Bench: "failover", Mode: cfg.Mode, ViaProxy: cfg.ViaProxy, Nodes: copts.Nodes,
		Arbiters: copts.Arbiters, LeaseTTLMs: Ms(copts.LeaseTTL), Batch: cfg.Batch, Trials: []Trial{},
		ArbiterArgs: copts.ArbiterArgs, NodeArgs: copts.NodeArgs}
	start := time.Now()
	defer func() { rep.DurationSecond = time.Since(start).Seconds() }()

	lg, err := Start(ctx, copts)
	if err != nil {
		return rep, err
	}
	defer lg.Close()
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, cfg.TrialTimeout) }
	sctx, cancel := step()
	st, err := lg.AwaitStatus(sctx, "one active and a full sync set", Settled(copts.Nodes, 1))
	cancel()
	if err != nil {
		return rep, err
	}
	progress("group up: %s active at epoch %d, sync set [%s]", st.Leader, st.Epoch, strings.Join(st.SyncNodes, " "))

	const coll = "failover_bench"
	direct := lg.LeaderClient()
	defer direct.Close()
	sctx, cancel = step()
	c, err := direct.Get(sctx)
	if err == nil {
		err = CreateCollection(sctx, c, coll, cfg.Dim)
	}
	cancel()
	if err != nil {
		return rep, err
	}
	var src ClientSource = lg.LeaderClient()
	if cfg.ViaProxy {
		src = FixedAddr(lg.Proxies[0].Addr)
	}
	defer src.Close()
	r := rand.New(rand.NewPCG(1, 2))
	vec := make([]float32, cfg.Dim)
	for i := range vec {
		vec[i] = r.Float32()
	}
	w := StartUpserts(ctx, src, LoadConfig{Collection: coll, Dim: cfg.Dim, Batch: cfg.Batch,
		Vector:  func(id int64) []float32 { v := append([]float32(nil), vec...); v[0] = float32(id); return v },
		Timeout: cfg.CallTimeout, Pause: cfg.Pause})
	defer w.Halt()

	lost := map[int64]bool{}
	epoch := st.Epoch
	for i := 1; i <= cfg.Trials; i++ {
		t, newEpoch, err := runTrial(ctx, cfg, lg, w, coll, i, epoch, lost, progress)
		if err != nil {
			rep.Error = fmt.Sprintf("trial %d: %v", i, err)
			rep.Summarize()
			return rep, fmt.Errorf("trial %d: %w", i, err)
		}
		epoch = newEpoch
		rep.Trials = append(rep.Trials, *t)
		progress("trial %d/%d: %s (epoch %d) -> %s (epoch %d): unavailable %.0f ms, longest gap %.0f ms, writes open %.0f ms, rejoin %.0f ms, lost %d",
			i, cfg.Trials, t.From, t.FromEpoch, t.To, t.ToEpoch, t.UnavailableMs, t.MaxGapMs, t.WritesOpenMs, t.RejoinMs, t.Lost)
	}
	rep.Summarize()
	return rep, nil
}

// runTrial performs one kill or switchover, measures it, checks the
// acknowledged rows and waits until the group is whole again.
func runTrial(ctx context.Context, cfg BenchConfig, lg *Cluster, w *Load, coll string, n int, epoch uint64,
	lost map[int64]bool, progress func(string, ...any)) (*Trial, uint64, error) {
	nodes := len(lg.Nodes)
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, cfg.TrialTimeout) }
	// Steady state: the group is whole and the writer is acknowledged.
	sctx, cancel := step()
	defer cancel()
	st, err := lg.AwaitStatus(sctx, "a whole group", Settled(nodes, epoch))
	if err != nil {
		return nil, 0, err
	}
	if err := w.AwaitOK(sctx, 20, time.Now()); err != nil {
		return nil, 0, fmt.Errorf("writer before the trial: %w", err)
	}
	t := &Trial{Trial: n, From: st.Leader, FromEpoch: st.Epoch, WritesOpenMs: -1}
	var begin, dead time.Time // the event's start; when the old active stopped serving
	var marks map[string]int
	var killed *Node
	if cfg.Mode == ModeArbiterLeader {
		return arbiterLeaderTrial(sctx, cfg, lg, w, coll, t, lost)
	}
	if cfg.Mode == ModeKill {
		k, err := lg.KillLeader(sctx)
		if err != nil {
			return nil, 0, err
		}
		begin, dead, marks, killed = k.At, k.Dead, k.Marks, k.Node
		t.From, t.FromEpoch = k.Node.ID, k.Epoch
	} else {
		marks = lg.Marks()
		begin = time.Now()
		out, err := exec.CommandContext(sctx, lg.opts.Binary, "switchover", "--arbiter", strings.Join(lg.Endpoints, ","),
			"--group", lg.Group, "--json").Output()
		dead = time.Now()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
			}
			return nil, 0, fmt.Errorf("tandem switchover: %w", err)
		}
		_, _, _, paused, err := ParseSwitchoverJSON(out)
		if err != nil {
			return nil, 0, err
		}
		t.ServerPauseMs = paused
	}
	opened, err := lg.AwaitWritesOpen(sctx, marks, t.From, t.FromEpoch)
	if err != nil {
		return nil, 0, err
	}
	t.To, t.ToEpoch = opened.Node.ID, opened.Epoch
	t.WritesOpenMs = Ms(opened.Line.Logged.Sub(begin))
	// The first acknowledgement after the event, then Settle more.
	if err := w.AwaitOK(sctx, 1, dead); err != nil {
		return nil, 0, fmt.Errorf("writer after the %s: %w", cfg.Mode, err)
	}
	ops := w.Ops()
	first, ok := FirstOKAfter(ops, "upsert", dead, 50*time.Millisecond)
	if !ok {
		// Only a call completing within the grace period: wait for more.
		if err := w.AwaitOK(sctx, 2, dead); err != nil {
			return nil, 0, err
		}
		ops = w.Ops()
		first, _ = FirstOKAfter(ops, "upsert", dead, 0)
	}
	windowEnd := first.Add(cfg.Settle)
	if err := sleepUntil(sctx, windowEnd); err != nil {
		return nil, 0, err
	}
	ops = w.Ops()
	gap, _ := LongestGap(ops, "upsert", begin, windowEnd)
	t.MaxGapMs = Ms(gap)
	t.UnavailableMs = Ms(first.Sub(begin))
	if cfg.Mode == ModeSwitchover {
		t.UnavailableMs = t.MaxGapMs
	}
	for _, op := range ops {
		if !op.OK() && op.End.After(begin.Add(-time.Second)) && op.Start.Before(windowEnd) {
			t.FailedWrites++
		}
	}
	// Every acknowledged row must be on the new active.
	acked := AckedIDs(ops)
	t.AckedRows = len(acked)
	newLost, err := countLost(sctx, opened.Node, coll, acked, lost)
	if err != nil {
		return nil, 0, err
	}
	t.Lost += newLost
	// Make the group whole again.
	rejoinStart := time.Now()
	if killed != nil {
		if err := killed.Restart(sctx); err != nil {
			return nil, 0, err
		}
	}
	if _, err := lg.AwaitStatus(sctx, "the group whole again", func(s *arbiter.StatusReport) bool {
		return Settled(nodes, opened.Epoch)(s) && s.Leader == opened.Node.ID
	}); err != nil {
		return nil, 0, err
	}
	rejoined := time.Now()
	t.RejoinMs = Ms(rejoined.Sub(rejoinStart))
	// Writes after the rejoin show whether it stalled them.
	if err := w.AwaitOK(sctx, 5, rejoined); err != nil {
		return nil, 0, fmt.Errorf("writer after the rejoin: %w", err)
	}
	rgap, _ := LongestGap(w.Ops(), "upsert", rejoinStart, rejoined)
	t.RejoinMaxGapMs = Ms(rgap)
	return t, opened.Epoch, nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(d):
		return nil
	}
}

// arbiterLeaderTrial SIGKILLs the etcd leader member of the arbiter under
// the write load, measures the longest write gap over the etcd election
// and Settle after it, checks that the group kept its active at its epoch
// and lost nothing, and restarts the member.
func arbiterLeaderTrial(ctx context.Context, cfg BenchConfig, lg *Cluster, w *Load, coll string, t *Trial,
	lost map[int64]bool) (*Trial, uint64, error) {
	i, err := lg.ArbiterLeader(ctx)
	if err != nil {
		return nil, 0, err
	}
	begin := time.Now()
	if err := lg.KillArbiter(i); err != nil {
		return nil, 0, err
	}
	// The arbiter has a new etcd leader once another member says so.
	for {
		if j, err := lg.ArbiterLeader(ctx); err == nil && j != i {
			break
		}
		if err := sleepUntil(ctx, time.Now().Add(20*time.Millisecond)); err != nil {
			return nil, 0, fmt.Errorf("no new etcd leader: %w", err)
		}
	}
	windowEnd := time.Now().Add(cfg.Settle)
	if err := sleepUntil(ctx, windowEnd); err != nil {
		return nil, 0, err
	}
	if err := w.AwaitOK(ctx, 1, begin); err != nil {
		return nil, 0, fmt.Errorf("writer after the arbiter leader kill: %w", err)
	}
	ops := w.Ops()
	gap, _ := LongestGap(ops, "upsert", begin, windowEnd)
	t.MaxGapMs, t.UnavailableMs = Ms(gap), Ms(gap)
	for _, op := range ops {
		if !op.OK() && op.End.After(begin) && op.Start.Before(windowEnd) {
			t.FailedWrites++
		}
	}
	st, err := lg.Status(ctx)
	if err != nil {
		return nil, 0, err
	}
	t.To, t.ToEpoch = st.Leader, st.Epoch
	// Epochs only grow: any failover in the window shows as a new epoch.
	t.RoleChanged = st.Leader != t.From || st.Epoch != t.FromEpoch
	acked := AckedIDs(ops)
	t.AckedRows = len(acked)
	if leader := lg.Leader(st); leader != nil {
		n, err := countLost(ctx, leader, coll, acked, lost)
		if err != nil {
			return nil, 0, err
		}
		t.Lost += n
	}
	rejoinStart := time.Now()
	if err := lg.RestartArbiter(ctx, i); err != nil {
		return nil, 0, err
	}
	t.RejoinMs = Ms(time.Since(rejoinStart))
	return t, st.Epoch, nil
}

// countLost reads the acknowledged ids back from the active and returns
// how many are missing that were not missing before (lost records them).
func countLost(ctx context.Context, active *Node, coll string, acked []int64, lost map[int64]bool) (int, error) {
	cl, err := dial(ctx, active.Addr)
	if err != nil {
		return 0, fmt.Errorf("connect to the active %s: %w", active.ID, err)
	}
	missing, err := MissingIDs(ctx, cl, coll, acked)
	cl.Close(context.Background())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range missing {
		if !lost[id] {
			lost[id] = true
			n++
		}
	}
	return n, nil
}
