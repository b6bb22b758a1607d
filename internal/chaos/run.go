package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/localgroup"
)

// Replication modes of a run.
const (
	ModeSync  = "sync"
	ModeAsync = "async"
)

// Config configures a Run.
type Config struct {
	// Binary is the tandem executable.
	Binary string
	// Seed seeds the nemesis and the clients.
	Seed int64
	// Mode is ModeSync (default) or ModeAsync (--sync-mode of the nodes).
	Mode string
	// Faults are the kinds the nemesis draws from (default AllFaults).
	Faults []string
	// Count is the number of faults to inject when Duration is 0 (default
	// len(Faults): each kind once).
	Count int
	// Overlap makes about one fault in three come with a second one
	// injected during its hold (Fault.Also): a standby killed or cut off
	// from the arbiter, or an arbiter member killed, while the first fault
	// lasts.
	Overlap bool
	// Duration, when > 0, injects faults until this much time has passed
	// since the first one (at least one round of every kind is not
	// guaranteed; Count is ignored).
	Duration time.Duration
	// LeaseTTL is the nodes' --lease-ttl (default 2s).
	LeaseTTL time.Duration
	// Proxies is the number of `tandem proxy` processes (default 2).
	Proxies int
	// RegisterClients, SetClients and SearchClients are the numbers of
	// clients of each workload (defaults 4, 2, 1). Clients alternate
	// between the proxies; the last register client and the last set
	// client talk to the active directly (as the arbiter shows it).
	RegisterClients, SetClients, SearchClients int
	// Workload tunes the clients (Seed is taken from Seed).
	Workload WorkloadConfig
	// Baseline is how long the clients run before the first fault
	// (default 2s); Tail how long they run after the last heal (default
	// 2s).
	Baseline, Tail time.Duration
	// RecoverTimeout bounds the wait for the group to be whole again after
	// a heal (default 60s).
	RecoverTimeout time.Duration
	// CheckTimeout bounds the linearizability check of one key (default
	// 30s).
	CheckTimeout time.Duration
	// OutDir is the parent of the run's folder (history, logs, data,
	// report); default os.TempDir(). The folder is removed after a
	// passing run unless Keep.
	OutDir string
	Keep   bool
	// Name labels the run (default "chaos-<mode>-seed<seed>").
	Name string
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
	// NodeArgs and ArbiterArgs are extra `tandem node` and `tandem
	// arbiter` flags.
	NodeArgs, ArbiterArgs []string
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeSync
	}
	if len(c.Faults) == 0 {
		c.Faults = AllFaults
	}
	if c.Count <= 0 {
		c.Count = len(c.Faults)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 2 * time.Second
	}
	if c.Proxies <= 0 {
		c.Proxies = 2
	}
	if c.RegisterClients <= 0 {
		c.RegisterClients = 4
	}
	if c.SetClients <= 0 {
		c.SetClients = 2
	}
	if c.SearchClients <= 0 {
		c.SearchClients = 1
	}
	if c.Baseline <= 0 {
		c.Baseline = 2 * time.Second
	}
	if c.Tail <= 0 {
		c.Tail = 2 * time.Second
	}
	if c.RecoverTimeout <= 0 {
		c.RecoverTimeout = 60 * time.Second
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.OutDir == "" {
		c.OutDir = os.TempDir()
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("chaos-%s-seed%d", c.Mode, c.Seed)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	c.Workload.Seed = uint64(c.Seed)
	return c
}

// Phase is one fault of a run, from its injection to the next one's (phase
// 0 is the baseline before the first fault). Times are history times
// (nanoseconds since the history's start).
type Phase struct {
	Index    int    `json:"index"`
	Fault    Fault  `json:"fault"`
	Kind     string `json:"kind"` // Fault.Kind, "none" for the baseline
	Target   string `json:"target,omitempty"`
	Start    int64  `json:"start"` // injection
	Healed   int64  `json:"healed"`
	Recover  int64  `json:"recovered"` // group whole again (0: never)
	End      int64  `json:"end"`
	LeaderA  string `json:"leader_before,omitempty"`
	LeaderB  string `json:"leader_after,omitempty"`
	EpochA   uint64 `json:"epoch_before,omitempty"`
	EpochB   uint64 `json:"epoch_after,omitempty"`
	Problems []string
	// Notes say what a fault did beyond its target: how often an armed
	// failpoint fired, whether a WAL failed.
	Notes []string `json:"notes,omitempty"`
}

// runner holds a run's state.
type runner struct {
	cfg    Config
	dir    string
	lg     *localgroup.Cluster
	net    *Net
	h      *History
	phase  atomic.Int64
	phases []*Phase

	mu     sync.Mutex
	pauses []Pause
	cur    *Fault // the fault being injected; guarded by mu
	curPh  *Phase // its phase; guarded by mu
}

// note adds a note to the current phase (and the progress log).
func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	if r.curPh != nil {
		r.curPh.Notes = append(r.curPh.Notes, msg)
	}
	r.mu.Unlock()
	r.logf("  note: %s", msg)
}

// Run starts a deployment (3 arbiter members, 3 nodes, cfg.Proxies
// proxies; every node's arbiter links and every node's peer port behind
// a relay), runs the workload, injects the faults, heals, checks the
// history and returns the report. The error is for a run that could not
// be carried out (the deployment did not start); a run that finds a
// problem returns a Report whose Failed() is true. Either way the
// evidence is kept in Report.Dir unless the run passed (and !Keep).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	for _, k := range cfg.Faults {
		if !ValidFault(k) {
			return nil, fmt.Errorf("chaos: unknown fault kind %q (known: %s)", k, strings.Join(AllFaults, ", "))
		}
	}
	if cfg.Mode != ModeSync && cfg.Mode != ModeAsync {
		return nil, fmt.Errorf("chaos: mode %q: must be sync or async", cfg.Mode)
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.OutDir, "tandem-"+cfg.Name+"-")
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, dir: dir, net: NewNet()}
	defer r.net.Close()
	rep := &Report{Name: cfg.Name, Seed: cfg.Seed, Mode: cfg.Mode, Dir: dir, Faults: cfg.Faults,
		NodeArgs: cfg.NodeArgs, ArbiterArgs: cfg.ArbiterArgs, FlushEvery: cfg.Workload.FlushEvery,
		LeaseTTL: cfg.LeaseTTL, Overlap: cfg.Overlap}
	started := time.Now()
	err = r.run(ctx, rep)
	rep.Wall = time.Since(started)
	if r.lg != nil {
		r.lg.Close()
	}
	if err != nil {
		rep.Problems = append(rep.Problems, "run aborted: "+err.Error())
	}
	r.save(rep)
	if !rep.Failed() && !cfg.Keep {
		os.RemoveAll(dir)
		rep.Kept = false
	} else {
		rep.Kept = true
	}
	return rep, nil
}

const nodes = 3

// pause SIGSTOPs node n and returns what resumes it (SIGCONT) and records
// the pause, by which the split-brain checker clips n's write windows.
func (r *runner) pause(n *localgroup.Node) (func() error, error) {
	from := time.Now()
	if err := n.Stop(); err != nil {
		return nil, fmt.Errorf("SIGSTOP %s: %w", n.ID, err)
	}
	return func() error {
		err := n.Cont()
		r.mu.Lock()
		r.pauses = append(r.pauses, Pause{Node: n.ID, From: from, To: time.Now()})
		r.mu.Unlock()
		return err
	}, nil
}

func (r *runner) logf(format string, args ...any) { r.cfg.Logf(format, args...) }

// arbiterLinks are node id's relays to the arbiter members.
func arbiterLinks(id string) []string {
	var out []string
	for i := 1; i <= 3; i++ {
		out = append(out, fmt.Sprintf("%s>a%d", id, i))
	}
	return out
}

// peerLink is the relay in front of node id's peer port.
func peerLink(id string) string { return "peer>" + id }

func (r *runner) start(ctx context.Context) error {
	for i := 1; i <= nodes; i++ {
		id := fmt.Sprintf("n%d", i)
		for _, l := range append(arbiterLinks(id), peerLink(id), clientLink(id)) {
			rl, err := r.net.Relay(l, "")
			if err != nil {
				return err
			}
			if l == peerLink(id) || l == clientLink(id) {
				// One relay per port, shared by every process that
				// connects to it: a fault can still cut one of them.
				rl.SetClassifier(func(remote net.Addr) string { return SocketOwner(remote, rl.ln.Addr(), r.procNames()) })
			}
		}
	}
	nodeArgs := []string{"--sync-mode", r.cfg.Mode}
	nodeArgs = append(nodeArgs, r.cfg.NodeArgs...)
	opts := localgroup.Options{
		Binary: r.cfg.Binary, Dir: filepath.Join(r.dir, "cluster"), KeepDir: true, Group: "chaos",
		Arbiters: 3, Nodes: nodes, Proxies: r.cfg.Proxies, LeaseTTL: r.cfg.LeaseTTL, NodeArgs: nodeArgs,
		ArbiterArgs: r.cfg.ArbiterArgs,
		ArbiterFor: func(id string, eps []string) []string {
			out := make([]string, len(eps))
			for i, ep := range eps {
				rl, err := r.net.Relay(fmt.Sprintf("%s>a%d", id, i+1), ep)
				if err != nil {
					return eps // not reached: every relay exists
				}
				out[i] = rl.Addr()
			}
			return out
		},
		AdvertisePeerFor: func(id, peer string) string {
			rl, err := r.net.Relay(peerLink(id), peer)
			if err != nil {
				return ""
			}
			return rl.Addr()
		},
		AdvertiseFor: func(id, addr string) string {
			rl, err := r.net.Relay(clientLink(id), addr)
			if err != nil {
				return ""
			}
			return rl.Addr()
		},
		ProxyArbiterFor: func(name string, eps []string) []string {
			out := make([]string, len(eps))
			for i, ep := range eps {
				rl, err := r.net.Relay(fmt.Sprintf("%s>a%d", name, i+1), ep)
				if err != nil {
					return eps
				}
				out[i] = rl.Addr()
			}
			return out
		},
		// Every node records its WAL's synced LSN (power-loss-standby).
		NodeEnv:  []string{"TANDEM_FAILPOINTS=" + FPWALSyncedMark + "=" + specSyncedMark},
		Progress: r.logf,
	}
	lg, err := localgroup.Start(ctx, opts)
	if lg != nil {
		r.mu.Lock()
		r.lg = lg
		r.mu.Unlock()
	}
	return err
}

// procNames maps the pids of the nodes' and proxies' current processes
// to their names (n1, proxy1, ...); empty before the deployment started.
func (r *runner) procNames() map[int]string {
	r.mu.Lock()
	lg := r.lg
	r.mu.Unlock()
	m := map[int]string{}
	if lg == nil {
		return m
	}
	for _, n := range lg.Nodes {
		if p := n.Proc(); p != nil {
			m[p.Pid()] = n.ID
		}
	}
	for _, p := range lg.Proxies {
		m[p.Pid()] = p.Name
	}
	return m
}

// whole is the arbiter's half of a healed group: one active at an epoch
// >= minEpoch, every node a live member, every other one a standby, and
// in sync mode every node in the sync set.
func (r *runner) whole(minEpoch uint64) func(st *arbiter.StatusReport) bool {
	return func(st *arbiter.StatusReport) bool {
		if r.cfg.Mode == ModeSync {
			return localgroup.Settled(nodes, minEpoch)(st)
		}
		if !localgroup.OneActive(minEpoch)(st) || len(st.Members) != nodes {
			return false
		}
		for _, m := range st.Members {
			if m.NodeID != st.Leader && m.Role != "standby" {
				return false
			}
		}
		return true
	}
}

// nodeView is the part of a node's /status the harness reads.
type nodeView struct {
	Role       string `json:"role"`
	Epoch      uint64 `json:"epoch"`
	WritesOpen bool   `json:"writes_open"`
	Leader     *struct {
		NodeID string `json:"node_id"`
	} `json:"leader"`
	Replication *struct {
		Receiver string `json:"receiver"`
	} `json:"replication"`
}

var statusClient = &http.Client{Timeout: time.Second}

func nodeStatus(ctx context.Context, n *localgroup.Node) (*nodeView, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v nodeView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	return &v, nil
}

// nodesAgree checks the nodes' own view (the arbiter's member keys may
// still be those of a process that just died): the leader is active with
// writes open, every other node a standby of it, streaming from it.
func (r *runner) nodesAgree(ctx context.Context, st *arbiter.StatusReport) error {
	for _, n := range r.lg.Nodes {
		v, err := nodeStatus(ctx, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n.ID, err)
		}
		if n.ID == st.Leader {
			if v.Role != "active" || !v.WritesOpen {
				return fmt.Errorf("%s (the leader) is %s, writes open %v", n.ID, v.Role, v.WritesOpen)
			}
			continue
		}
		switch {
		case v.Role != "standby":
			return fmt.Errorf("%s is %s", n.ID, v.Role)
		case v.Leader == nil || v.Leader.NodeID != st.Leader:
			return fmt.Errorf("%s does not follow %s yet", n.ID, st.Leader)
		case v.Replication == nil || v.Replication.Receiver != "streaming":
			recv := "none"
			if v.Replication != nil {
				recv = v.Replication.Receiver
			}
			return fmt.Errorf("%s is not streaming (%s)", n.ID, recv)
		}
	}
	return nil
}

// awaitWhole waits until the group is whole (arbiter and nodes agree)
// with an active at an epoch >= minEpoch.
func (r *runner) awaitWhole(ctx context.Context, what string, minEpoch uint64) (*arbiter.StatusReport, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RecoverTimeout)
	defer cancel()
	var last error
	for {
		st, err := r.lg.AwaitStatus(ctx, what, r.whole(minEpoch))
		if err != nil {
			if last != nil {
				err = fmt.Errorf("%w; last disagreement: %v", err, last)
			}
			return nil, err
		}
		if last = r.nodesAgree(ctx, st); last == nil {
			return st, nil
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func (r *runner) run(ctx context.Context, rep *Report) error {
	r.logf("%s: seed %d, mode %s, faults %v, folder %s", r.cfg.Name, r.cfg.Seed, r.cfg.Mode, r.cfg.Faults, r.dir)
	if err := r.start(ctx); err != nil {
		return fmt.Errorf("start the deployment: %w", err)
	}
	lg := r.lg
	if _, err := r.awaitWhole(ctx, "a whole group", 1); err != nil {
		return err
	}
	setup := localgroup.FixedAddr(lg.Proxies[0].Addr)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := setup.Get(sctx)
	if err == nil {
		err = CreateCollections(sctx, c)
	}
	cancel()
	setup.Close()
	if err != nil {
		return err
	}

	// Clients reach each proxy through its own relay.
	proxyAddrs := make([]string, len(lg.Proxies))
	for i, p := range lg.Proxies {
		rl, err := r.net.Relay(proxyLink(i+1), p.Addr)
		if err != nil {
			return err
		}
		proxyAddrs[i] = rl.Addr()
	}
	r.h = NewHistory()
	h := r.h
	route := func(i int) Route {
		j := i % len(lg.Proxies)
		return Route{Name: fmt.Sprintf("proxy%d", j+1), Src: localgroup.FixedAddr(proxyAddrs[j])}
	}
	direct := func() Route { return Route{Name: "direct", Src: lg.LeaderClient()} }
	var regs, sets, searches []Route
	for i := 0; i < r.cfg.RegisterClients; i++ {
		if i == r.cfg.RegisterClients-1 && i > 0 {
			regs = append(regs, direct())
		} else {
			regs = append(regs, route(i))
		}
	}
	for i := 0; i < r.cfg.SetClients; i++ {
		if i == r.cfg.SetClients-1 && i > 0 {
			sets = append(sets, direct())
		} else {
			sets = append(sets, route(i+1))
		}
	}
	for i := 0; i < r.cfg.SearchClients; i++ {
		searches = append(searches, route(i))
	}
	r.phases = []*Phase{{Index: 0, Kind: "none", Start: 0}}
	wcfg := r.cfg.Workload
	wcfg.NoDeletes = wcfg.NoDeletes || r.cfg.Mode == ModeAsync
	w := StartWorkload(h, &r.phase, wcfg, regs, sets, searches, []Route{route(0)})
	stopped := false
	stopWorkload := func() {
		if !stopped {
			stopped = true
			w.Stop()
		}
	}
	defer stopWorkload()

	sleep(ctx, r.cfg.Baseline)
	nem := NewNemesis(r.cfg.Seed, r.cfg.Faults, r.cfg.LeaseTTL)
	nem.Overlap = r.cfg.Overlap
	first := time.Now()
	for i := 1; ctx.Err() == nil; i++ {
		if r.cfg.Duration > 0 {
			if time.Since(first) >= r.cfg.Duration {
				break
			}
		} else if i > r.cfg.Count {
			break
		}
		f := nem.Next()
		sleep(ctx, f.Quiet)
		r.fault(ctx, i, f)
	}
	// Heal whatever is left, wait for a whole group, let the clients see
	// it, then stop them.
	r.healAll(ctx, 1)
	r.phases[len(r.phases)-1].End = h.Now()
	sleep(ctx, r.cfg.Tail)
	stopWorkload()
	end := h.Now()
	r.phases[len(r.phases)-1].End = end

	// Convergence: every replica at the same applied LSN with the same
	// state digest.
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RecoverTimeout)
	st, err := lg.AwaitStatus(cctx, "replicas converged", func(st *arbiter.StatusReport) bool {
		return r.whole(1)(st) && localgroup.Converged(nodes)(st)
	})
	cancel()
	if err != nil {
		rep.Problems = append(rep.Problems, "replicas did not converge: "+err.Error())
		rep.Converged = false
	} else {
		rep.Converged = true
		rep.Digest = st.Members[0].StateDigest
		rep.DigestLSN = st.Members[0].AppliedLSN
	}
	if st, err := lg.Status(ctx); err == nil {
		rep.FinalStatus = localgroup.Describe(st)
		for _, m := range st.Members {
			rep.FinalMembers = append(rep.FinalMembers, fmt.Sprintf("%s role=%s epoch=%d applied=%d digest=%s@%d",
				m.NodeID, m.Role, m.Epoch, m.AppliedLSN, m.StateDigest, m.StateDigestLSN))
		}
	}
	return r.check(ctx, rep, end)
}

// fault injects f as phase i (and f.Also, if any, during its hold),
// heals it after f.Hold and waits for the group to be whole again.
func (r *runner) fault(ctx context.Context, i int, f Fault) {
	lg, h := r.lg, r.h
	ph := &Phase{Index: i, Fault: f, Kind: f.Kind}
	prev := r.phases[len(r.phases)-1]
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		ph.Problems = append(ph.Problems, msg)
		r.logf("  phase %d %s: %s", i, f.Kind, msg)
	}
	st, err := lg.Status(ctx)
	if err != nil {
		problem("status before the fault: %v", err)
	}
	var leader *localgroup.Node
	if st != nil {
		leader = lg.Leader(st)
		ph.LeaderA, ph.EpochA = st.Leader, st.Epoch
	}
	// A killed active's lease dies with it: whoever leads afterwards won a
	// new epoch. (A paused or cut-off active may, rarely, keep its lease
	// if it comes back before the arbiter expired it.)
	minEpoch := uint64(1)
	if slices.Contains(newEpochFaults, f.Kind) {
		minEpoch = ph.EpochA + 1
	}

	// The new phase starts at the injection: clients use its keys from now.
	ph.Start = h.Now()
	prev.End = ph.Start
	r.phases = append(r.phases, ph)
	r.phase.Store(int64(i))
	r.mu.Lock()
	r.cur, r.curPh = &f, ph
	r.mu.Unlock()
	target, heal, err := r.inject(ctx, f.Kind, f.Pick, leader, "")
	if err != nil {
		problem("%v", err)
	}
	ph.Target = target
	r.logf("phase %d: %s on %s (leader %s at epoch %d)", i, f, ph.Target, ph.LeaderA, ph.EpochA)
	if a := f.Also; a != nil {
		sleep(ctx, a.Quiet)
		t2, heal2, err := r.inject(ctx, a.Kind, a.Pick, leader, target)
		if err != nil {
			problem("%v", err)
		}
		ph.Target += "+" + t2
		r.logf("  and %s on %s", a.Kind, t2)
		if slices.Contains(newEpochFaults, a.Kind) {
			minEpoch = ph.EpochA + 1
		}
		sleep(ctx, f.Hold-a.Quiet)
		if heal2 != nil {
			if err := heal2(); err != nil {
				problem("heal %s: %v", a.Kind, err)
			}
		}
	} else {
		sleep(ctx, f.Hold)
	}
	if heal != nil {
		if err := heal(); err != nil {
			problem("heal: %v", err)
		}
	}
	ph.Healed = h.Now()
	st, err = r.awaitWhole(ctx, "a whole group after "+f.Kind, minEpoch)
	if err != nil {
		problem("the group was not whole again within %v of the heal: %v", r.cfg.RecoverTimeout, err)
		r.healAll(ctx, 1)
	} else {
		ph.Recover = h.Now()
		ph.LeaderB, ph.EpochB = st.Leader, st.Epoch
		r.logf("  healed; whole again %v after the heal: leader %s at epoch %d",
			time.Duration(ph.Recover-ph.Healed).Round(time.Millisecond), st.Leader, st.Epoch)
	}
}

// inject applies one fault of kind: the active is leader (nil if none),
// a standby or arbiter member is chosen by pick, never the one named
// exclude (a fault already applied). It returns what it hit and how to
// heal it.
func (r *runner) inject(ctx context.Context, kind string, pick int, leader *localgroup.Node, exclude string) (string, func() error, error) {
	lg := r.lg
	var standbys []*localgroup.Node
	for _, n := range lg.Nodes {
		if (leader == nil || n.ID != leader.ID) && n.ID != exclude {
			standbys = append(standbys, n)
		}
	}
	switch kind {
	case KillActive, PauseActive, PartitionActiveArbiter, PartitionActiveStandbys, IsolateActive:
		if leader == nil {
			return "", nil, fmt.Errorf("no active to inject %s into", kind)
		}
	case KillStandby, PartitionStandbyArbiter:
		if len(standbys) == 0 {
			return "", nil, fmt.Errorf("no standby to inject %s into", kind)
		}
	}
	if slices.Contains(ExtraFaults, kind) {
		return r.injectExtra(ctx, kind, pick, leader, standbys, exclude)
	}
	standby := func() *localgroup.Node { return standbys[pick%len(standbys)] }
	switch kind {
	case KillActive, KillStandby:
		n := leader
		if kind == KillStandby {
			n = standby()
		}
		n.Kill()
		return n.ID, func() error { return n.Restart(ctx) }, nil
	case KillArbiter:
		var members []int
		for a := range lg.Arbiters {
			if fmt.Sprintf("a%d", a+1) != exclude {
				members = append(members, a)
			}
		}
		a := members[pick%len(members)]
		lg.KillArbiter(a)
		return fmt.Sprintf("a%d", a+1), func() error { return lg.RestartArbiter(ctx, a) }, nil
	case PauseActive:
		n := leader
		cont, err := r.pause(n)
		if err != nil {
			return n.ID, nil, err
		}
		return n.ID, cont, nil
	case PartitionActiveArbiter, PartitionStandbyArbiter:
		n := leader
		if kind == PartitionStandbyArbiter {
			n = standby()
		}
		links := arbiterLinks(n.ID)
		r.net.Block(links...)
		return n.ID, func() error { return r.net.Unblock(links...) }, nil
	case PartitionActiveStandbys, IsolateActive:
		links := []string{peerLink(leader.ID)}
		if kind == IsolateActive {
			links = append(links, arbiterLinks(leader.ID)...)
		}
		r.net.Block(links...)
		return leader.ID, func() error { return r.net.Unblock(links...) }, nil
	case RestartAll:
		var wg sync.WaitGroup
		for _, n := range lg.Nodes {
			wg.Add(1)
			go func() { defer wg.Done(); n.Kill() }()
		}
		wg.Wait()
		return "all nodes", func() error {
			errs := make([]error, len(lg.Nodes))
			var wg sync.WaitGroup
			for j, n := range lg.Nodes {
				wg.Add(1)
				go func() { defer wg.Done(); errs[j] = n.Restart(ctx) }()
			}
			wg.Wait()
			return errors.Join(errs...)
		}, nil
	}
	return "", nil, fmt.Errorf("unknown fault kind %q", kind)
}

// healAll heals every partition, resumes paused nodes, restarts dead
// processes and waits for a whole group.
func (r *runner) healAll(ctx context.Context, minEpoch uint64) {
	lg := r.lg
	r.net.HealAll()
	for _, n := range lg.Nodes {
		if p := n.Proc(); p != nil && p.Running() {
			p.Cont()
		}
	}
	for _, a := range lg.Arbiters {
		if a != nil && a.Running() {
			a.Cont()
		}
	}
	for i, a := range lg.Arbiters {
		if a == nil || !a.Running() {
			if err := lg.RestartArbiter(ctx, i); err != nil {
				r.logf("heal: restart arbiter a%d: %v", i+1, err)
			}
		}
	}
	for _, n := range lg.Nodes {
		if !n.Running() {
			if err := n.Restart(ctx); err != nil {
				r.logf("heal: restart %s: %v", n.ID, err)
			}
		}
	}
	if _, err := r.awaitWhole(ctx, "a whole group", minEpoch); err != nil {
		r.logf("heal: %v", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// check runs the checkers over the history and fills rep.
func (r *runner) check(ctx context.Context, rep *Report, end int64) error {
	ops := r.h.Ops()
	rep.Ops = len(ops)
	for _, p := range r.phases {
		rep.Phases = append(rep.Phases, *p)
	}

	// The final read of the append set: which attempted rows are present.
	var attempted []int64
	for _, op := range ops {
		if op.Kind == KindInsert {
			attempted = append(attempted, op.IDs...)
		}
	}
	present := map[int64]bool{}
	src := localgroup.FixedAddr(r.lg.Proxies[0].Addr)
	defer src.Close()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := src.Get(rctx)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	missing, err := localgroup.MissingIDs(rctx, c, SetColl, attempted)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	miss := map[int64]bool{}
	for _, id := range missing {
		miss[id] = true
	}
	for _, id := range attempted {
		if !miss[id] {
			present[id] = true
		}
	}
	total, err := localgroup.CountRows(rctx, c, SetColl)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	rep.SetRows = total
	sets, _ := CheckSet(ops, present)
	if extra := total - int64(len(present)); extra != 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("append set: %d rows present, %d of them attempted: %d phantom rows", total, len(present), extra))
	}

	// Async mode: every lost acknowledged row must be among the records
	// the old active cut from its log (diverged/), inside a reported
	// window.
	var lostAll []int64
	for _, s := range sets {
		lostAll = append(lostAll, s.Lost...)
	}
	slices.Sort(lostAll)
	if r.cfg.Mode == ModeAsync {
		dirs := map[string]string{}
		for _, n := range r.lg.Nodes {
			dirs[n.ID] = n.DataDir
		}
		hits, cuts, err := FindInDiverged(dirs, lostAll)
		if err != nil {
			rep.Problems = append(rep.Problems, "read diverged/: "+err.Error())
		}
		for _, c := range cuts {
			rep.Cuts = append(rep.Cuts, fmt.Sprintf("%s: cut after lsn %d: %d records (%d..%d), %d saved in %s",
				c.Node, c.CutAfter, c.Records, c.FirstLSN, c.LastLSN, c.Saved, c.File))
		}
		rep.LostInDiverged = map[int64]DivergedHit{}
		for _, id := range lostAll {
			if hit, ok := hits[id]; ok && hit.InWindow {
				rep.LostInDiverged[id] = hit
			}
		}
	}

	// Registers, searches, split brain. In async mode an acknowledged
	// upsert may be lost too, if it is among the records an old active
	// cut (inside the loss window): such a write is left out of the
	// history, with the reads that returned its value (they read the
	// branch that was lost); whatever else is not linearizable is a
	// violation. (Leaving the write out rather than making it
	// indeterminate keeps the check tractable — hundreds of writes can be
	// cut at once; it would miss only an anomaly involving a lost value
	// that a proxy's retry also applied on the surviving branch.)
	regOps := ops
	if r.cfg.Mode == ModeAsync {
		dirs := map[string]string{}
		for _, n := range r.lg.Nodes {
			dirs[n.ID] = n.DataDir
		}
		regOps, rep.RegLostInDiverged = AsyncRegisters(ops, dirs)
	}
	vizDir := filepath.Join(r.dir, "linearizability")
	os.MkdirAll(vizDir, 0o755)
	regs := CheckRegisters(regOps, r.cfg.CheckTimeout, vizDir)
	searches := CheckSearches(ops)

	var windows []WriteWindow
	endWall := r.h.At(end).Add(time.Hour) // windows still open belong to the final active
	for _, n := range r.lg.Nodes {
		ws, err := ParseWriteWindows(n.ID, filepath.Join(r.lg.LogDir(), n.ID+".log"), endWall)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("read %s's log: %v", n.ID, err))
			continue
		}
		windows = append(windows, ws...)
	}
	r.mu.Lock()
	pauses := slices.Clone(r.pauses)
	r.mu.Unlock()
	fenceAfter := r.cfg.LeaseTTL - r.cfg.LeaseTTL/4 // the node's default fence margin is TTL/4
	clipped := ClipPauses(windows, pauses, fenceAfter)
	rep.WriteWindows = clipped
	rep.SplitBrain = SplitBrain(clipped)
	for _, w := range clipped {
		rep.Epochs = max(rep.Epochs, w.Epoch)
	}

	// Per-phase rows.
	for i := range rep.Phases {
		p := &rep.Phases[i]
		row := PhaseRow{Phase: p.Index, Kind: p.Kind, Target: p.Target, Problems: p.Problems}
		if p.Index > 0 && p.Recover == 0 {
			row.NotRecovered = true
		}
		for _, op := range ops {
			if op.Phase != p.Index {
				continue
			}
			row.Ops++
			switch {
			case op.Ok():
				row.OK++
			case op.Outcome == Info:
				row.Indeterminate++
			default:
				row.Failed++
			}
		}
		if s := sets[p.Index]; s != nil {
			row.Acked = s.Acked
			row.Lost = len(s.Lost)
			for _, id := range s.Lost {
				if _, ok := rep.LostInDiverged[id]; ok {
					row.LostInDiverged++
				}
			}
			if len(s.Lost) > 0 {
				row.Problems = append(row.Problems, fmt.Sprintf("acknowledged rows lost: %d (first: %v)", len(s.Lost), s.Lost[:min(5, len(s.Lost))]))
			}
		}
		if g := regs[p.Index]; g != nil {
			row.Violations += g.Violations
			row.Unknown += g.Unknown
			row.Problems = append(row.Problems, g.Problems...)
			for _, v := range g.Visualizations {
				row.Problems = append(row.Problems, "see "+v)
			}
		}
		if s := searches[p.Index]; s != nil {
			for _, m := range s.Misses {
				row.SearchMisses++
				row.Problems = append(row.Problems, "search missed a fresh row: "+m)
			}
		}
		row.MaxUnavail = maxUnavailability(ops, p.Start, p.End)
		rep.Rows = append(rep.Rows, row)
	}
	// Async mode: a missed search of a row that was then lost is allowed
	// (the row is in the loss window); one of a row present at the end is
	// a stale read.
	if r.cfg.Mode == ModeAsync {
		lost := map[int64]bool{}
		for _, id := range lostAll {
			lost[id] = true
		}
		for _, op := range ops {
			if op.Kind == KindSearch && op.Ok() && len(op.IDs) == 1 && op.Value != op.IDs[0] && lost[op.IDs[0]] {
				for i := range rep.Rows {
					if rep.Rows[i].Phase == op.Phase {
						rep.Rows[i].SearchMissesLost++
					}
				}
			}
		}
	}
	return nil
}

// AsyncRegisters returns ops without the register writes found in a
// diverged/ loss window and the reads that returned their values, and how
// many acknowledged writes that concerned.
func AsyncRegisters(ops []Op, dirs map[string]string) ([]Op, int) {
	var vals []int64
	for _, op := range ops {
		if op.Kind == KindWrite && op.Ok() {
			vals = append(vals, op.Value)
		}
	}
	hits, _, err := FindInDiverged(dirs, vals)
	if err != nil {
		return ops, 0
	}
	lost := map[int64]bool{}
	for v, h := range hits {
		if h.InWindow {
			lost[v] = true
		}
	}
	out := make([]Op, 0, len(ops))
	n := 0
	for _, op := range ops {
		switch {
		case op.Kind == KindWrite && lost[op.Value]:
			if op.Ok() {
				n++
			}
			continue
		case op.Kind == KindRead && op.Ok() && lost[op.Value]:
			continue
		}
		out = append(out, op)
	}
	return out, n
}

// maxUnavailability is the longest time in which no write (register write
// or insert) succeeded, over the gaps between successful writes that end
// in (from, to] (history times): a gap belongs to the phase in which
// writes succeed again. A gap still open at to counts up to to.
func maxUnavailability(ops []Op, from, to int64) time.Duration {
	var ends []int64
	for _, op := range ops {
		if op.Ok() && (op.Kind == KindWrite || op.Kind == KindInsert) {
			ends = append(ends, op.Complete)
		}
	}
	slices.Sort(ends)
	var gap int64
	prev := from
	for _, e := range ends {
		if e > from && e <= to {
			gap = max(gap, e-prev)
		}
		if e > to {
			break
		}
		prev = e
	}
	if prev < to {
		gap = max(gap, to-prev)
	}
	return time.Duration(gap)
}

// save writes the history, the phases and the report to the run's
// folder.
func (r *runner) save(rep *Report) {
	if r.h != nil {
		if err := WriteOps(filepath.Join(r.dir, "history.jsonl"), r.h.Ops()); err != nil {
			rep.Problems = append(rep.Problems, "save history: "+err.Error())
		}
	}
	if b, err := json.MarshalIndent(rep.Phases, "", " "); err == nil {
		os.WriteFile(filepath.Join(r.dir, "phases.json"), b, 0o644)
	}
	if b, err := json.MarshalIndent(rep.WriteWindows, "", " "); err == nil {
		os.WriteFile(filepath.Join(r.dir, "write-windows.json"), b, 0o644)
	}
	os.WriteFile(filepath.Join(r.dir, "report.txt"), []byte(rep.String()), 0o644)
}
