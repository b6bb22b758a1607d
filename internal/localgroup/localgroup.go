// Package localgroup runs a whole Tandem HA deployment on loopback as
// real child processes of the running binary: an arbiter (one or three
// `tandem arbiter` members), a group of `tandem node`s and optionally
// `tandem proxy`s. It picks free ports, waits for every process's ready
// line, lets the caller SIGKILL, SIGSTOP, resume and restart nodes, reads
// the group status from the arbiter in-process, and removes everything on
// Close. Children are in their own process group (a Ctrl-C at the terminal
// reaches only the parent, which is expected to call Close) and are
// SIGKILLed by the kernel if the parent dies (Pdeathsig), so none
// survives it.
//
// It backs `tandem demo` and `tandem bench failover`.
package localgroup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// Options configures Start. Zero fields take the defaults noted.
type Options struct {
	// Binary is the tandem executable (default: os.Executable()).
	Binary string
	// Dir holds the data directories (arbiter/aN, nodes/nN) and logs
	// (logs/NAME.log); it must be new or empty. Default: a new temporary
	// directory, removed by Close unless KeepDir.
	Dir     string
	KeepDir bool
	// Group is the HA group name (default "demo").
	Group string
	// Arbiters is 1 or 3 (default 1).
	Arbiters int
	// Nodes is the group size (default 3); node ids are n1, n2, ...
	Nodes int
	// Proxies is the number of `tandem proxy` processes (default 0).
	Proxies int
	// LeaseTTL is passed as --lease-ttl when > 0 (default: the node's).
	LeaseTTL time.Duration
	// ArbiterArgs, NodeArgs and ProxyArgs are appended to every arbiter
	// member's, node's and proxy's command line.
	ArbiterArgs, NodeArgs, ProxyArgs []string
	// ReadyTimeout bounds the wait for a process's ready line (default 60s).
	ReadyTimeout time.Duration
	// ArbiterFor, when set, returns the arbiter endpoints node id is given
	// (--arbiter) instead of the members' own client endpoints: e.g. a
	// fault-injecting relay in front of each member, one set per node, so
	// that one node's links to the arbiter can be cut. It is called each
	// time the node's command line is built (at start and again if its
	// ports had to change).
	ArbiterFor func(id string, endpoints []string) []string
	// AdvertisePeerFor, when set, returns the peer address node id
	// publishes (--advertise-peer-addr) for its bound peer address peer,
	// e.g. a relay in front of it, so that standbys reach the active's
	// peer port through it; "" keeps the bound address. Called like
	// ArbiterFor.
	AdvertisePeerFor func(id, peer string) string
	// AdvertiseFor, when set, returns the client address node id
	// publishes (--advertise-addr) for its bound client address addr, e.g.
	// a relay in front of it, so that proxies and clients that look the
	// active up in the arbiter reach it through that relay; "" keeps the
	// bound address. Called like ArbiterFor.
	AdvertiseFor func(id, addr string) string
	// ProxyArbiterFor, when set, returns the arbiter endpoints proxy name
	// (proxy1, proxy2, ...) is given instead of the members' own, like
	// ArbiterFor for nodes.
	ProxyArbiterFor func(name string, endpoints []string) []string
	// NodeEnv is added to every node process's environment (children
	// otherwise get no TANDEM_* variable), e.g.
	// "TANDEM_FAILPOINTS=wal/synced-mark=error" for a failpoint build.
	NodeEnv []string
	// Progress, when set, receives one line per process started.
	Progress func(format string, args ...any)
}

func (o Options) withDefaults() (Options, error) {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("localgroup: find the tandem binary: %w", err)
		}
		o.Binary = exe
	}
	if o.Group == "" {
		o.Group = "demo"
	}
	if o.Arbiters == 0 {
		o.Arbiters = 1
	}
	if o.Arbiters != 1 && o.Arbiters != 3 {
		return o, fmt.Errorf("localgroup: Arbiters = %d: must be 1 or 3", o.Arbiters)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > 9 {
		return o, fmt.Errorf("localgroup: Nodes = %d: must be 1..9", o.Nodes)
	}
	if o.Proxies < 0 || o.Proxies > 9 {
		return o, fmt.Errorf("localgroup: Proxies = %d: must be 0..9", o.Proxies)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	return o, nil
}

// Ready lines (log/slog text format) of the three process kinds.
var (
	arbiterReady = regexp.MustCompile(`msg="tandem arbiter serving"`)
	nodeReady    = regexp.MustCompile(`msg="tandem node serving".* listen=(\S+) .*http=(\S+)`)
	proxyReady   = regexp.MustCompile(`msg="tandem proxy serving".* listen=(\S+) .*http=(\S+)`)
	addrInUse    = regexp.MustCompile(`address already in use`)
)

// Cluster is a running local deployment.
type Cluster struct {
	opts      Options
	Group     string
	Dir       string
	Endpoints []string // arbiter client endpoints (host:port)
	Arbiters  []*Proc
	Nodes     []*Node
	Proxies   []*Proxy

	ownDir bool
	env    []string
	// arbiterArgs[i] is arbiter member i's command line (RestartArbiter).
	arbiterArgs [][]string

	clientMu sync.Mutex
	client   *arbiter.Client

	closeOnce sync.Once
	closed    atomic.Bool
}

var errClosed = errors.New("localgroup: cluster closed")

// Node is one `tandem node` process slot: Restart replaces the process,
// keeping the id, data directory and addresses.
type Node struct {
	ID      string
	DataDir string
	// Addresses as the node reported them in its ready line.
	Addr, PeerAddr, HTTPAddr string

	c    *Cluster
	proc atomic.Pointer[Proc]
	args []string
}

// Proxy is one `tandem proxy` process.
type Proxy struct {
	*Proc
	Addr, HTTPAddr string
}

// Start launches the arbiter, then the nodes, then the proxies, and
// returns once each has printed its ready line. On any error everything
// started so far is killed and removed. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Group: opts.Group, Dir: opts.Dir}
	if c.Dir != "" {
		// A used directory holds an arbiter whose membership names other
		// ports: start from nothing.
		if ents, err := os.ReadDir(c.Dir); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("localgroup: %s is not empty (give a new or empty directory)", c.Dir)
		}
	}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "tandem-local-")
		if err != nil {
			return nil, fmt.Errorf("localgroup: %w", err)
		}
		c.Dir, c.ownDir = d, true
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("localgroup: %w", err)
	}
	// Children get no TANDEM_* variables: every flag they need is on
	// their command line, and a variable meant for the parent (say
	// TANDEM_ROWS) must not reach them.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TANDEM_") {
			c.env = append(c.env, kv)
		}
	}
	if err := c.startArbiters(ctx); err != nil {
		return nil, err
	}
	if err := c.startNodes(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Proxies; i++ {
		p, err := c.startProxy(ctx, fmt.Sprintf("proxy%d", i))
		if err != nil {
			return nil, err
		}
		c.Proxies = append(c.Proxies, p)
	}
	return c, nil
}

func (c *Cluster) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		c.opts.Progress(format, args...)
	}
}

func (c *Cluster) logPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

// start launches one child and waits for ready.
func (c *Cluster) start(ctx context.Context, name string, args []string, ready *regexp.Regexp) (*Proc, []string, error) {
	return c.startEnv(ctx, name, args, c.env, ready)
}

// startEnv is start with the environment env.
func (c *Cluster) startEnv(ctx context.Context, name string, args, env []string, ready *regexp.Regexp) (*Proc, []string, error) {
	p, err := startProc(name, c.opts.Binary, args, env, c.logPath(name))
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.ReadyTimeout)
	defer cancel()
	_, m, _, err := p.WaitLine(wctx, ready, 0)
	if err != nil {
		p.Kill()
		return p, nil, err
	}
	return p, m, nil
}

func (c *Cluster) startArbiters(ctx context.Context) error {
	n := c.opts.Arbiters
	ps, err := FreePorts(2 * n)
	if err != nil {
		return err
	}
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("a%d=http://%s", i+1, loopback(ps[2*i+1])))
		c.Endpoints = append(c.Endpoints, loopback(ps[2*i]))
	}
	// A new cluster needs a quorum before any member is ready: start all
	// members, then wait for all.
	c.Arbiters = make([]*Proc, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("a%d", i+1)
		args := []string{"arbiter", "--name", name, "--data-dir", filepath.Join(c.Dir, "arbiter", name),
			"--client-listen", loopback(ps[2*i]), "--peer-listen", loopback(ps[2*i+1]),
			"--initial-cluster", strings.Join(initial, ",")}
		args = append(args, c.opts.ArbiterArgs...)
		c.arbiterArgs = append(c.arbiterArgs, args)
		p, err := startProc(name, c.opts.Binary, args, c.env, c.logPath(name))
		if err != nil {
			return err
		}
		c.Arbiters[i] = p
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.ReadyTimeout)
	defer cancel()
	for _, p := range c.Arbiters {
		if _, _, _, err := p.WaitLine(wctx, arbiterReady, 0); err != nil {
			return fmt.Errorf("arbiter %s: %w", p.Name, err)
		}
	}
	c.progress("arbiter (%d member(s)) serving at %s", n, strings.Join(c.Endpoints, ","))
	return nil
}

func (c *Cluster) startNodes(ctx context.Context) error {
	n := c.opts.Nodes
	ps, err := FreePorts(3 * n)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		nd := &Node{ID: id, DataDir: filepath.Join(c.Dir, "nodes", id), c: c}
		nd.setPorts(ps[3*i], ps[3*i+1], ps[3*i+2])
		c.Nodes = append(c.Nodes, nd)
	}
	// Start all, then await all: nodes start independently.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, nd := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.launch(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var ids []string
	for _, nd := range c.Nodes {
		ids = append(ids, nd.ID)
	}
	c.progress("nodes %s serving (group %q)", strings.Join(ids, ", "), c.Group)
	return nil
}

func (n *Node) setPorts(client, peer, http int) {
	arb := n.c.Endpoints
	if f := n.c.opts.ArbiterFor; f != nil {
		arb = f(n.ID, slices.Clone(arb))
	}
	n.args = []string{"node", "--group", n.c.Group, "--node-id", n.ID, "--data-dir", n.DataDir,
		"--listen", loopback(client), "--peer-listen", loopback(peer), "--http-listen", loopback(http),
		"--arbiter", strings.Join(arb, ",")}
	if f := n.c.opts.AdvertisePeerFor; f != nil {
		if adv := f(n.ID, loopback(peer)); adv != "" {
			n.args = append(n.args, "--advertise-peer-addr", adv)
		}
	}
	if f := n.c.opts.AdvertiseFor; f != nil {
		if adv := f(n.ID, loopback(client)); adv != "" {
			n.args = append(n.args, "--advertise-addr", adv)
		}
	}
	if n.c.opts.LeaseTTL > 0 {
		n.args = append(n.args, "--lease-ttl", n.c.opts.LeaseTTL.String())
	}
	n.args = append(n.args, n.c.opts.NodeArgs...)
}

// launch starts the node's process and awaits its ready line; if a port
// was taken meanwhile it retries once on new ports.
func (n *Node) launch(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		p, m, err := n.c.startEnv(ctx, n.ID, n.args, append(slices.Clone(n.c.env), n.c.opts.NodeEnv...), nodeReady)
		if p != nil {
			n.proc.Store(p)
		}
		if err == nil {
			n.Addr, n.HTTPAddr = m[1], m[2]
			if l, _, _, ok := p.FindLine(nodeReady, 0); ok {
				n.PeerAddr = ParseLogfmt(l.Text)["peer"]
			}
			if n.c.closed.Load() { // Close ran meanwhile: it may have missed this process
				p.Kill()
				return errClosed
			}
			return nil
		}
		if attempt > 0 || p == nil || !addrInUse.MatchString(p.Logs(0)) {
			return fmt.Errorf("node %s: %w", n.ID, err)
		}
		ps, perr := FreePorts(3)
		if perr != nil {
			return perr
		}
		n.setPorts(ps[0], ps[1], ps[2])
	}
}

func (c *Cluster) startProxy(ctx context.Context, name string) (*Proxy, error) {
	for attempt := 0; ; attempt++ {
		ps, err := FreePorts(2)
		if err != nil {
			return nil, err
		}
		arb := c.Endpoints
		if f := c.opts.ProxyArbiterFor; f != nil {
			arb = f(name, slices.Clone(arb))
		}
		args := append([]string{"proxy", "--group", c.Group, "--arbiter", strings.Join(arb, ","),
			"--listen", loopback(ps[0]), "--http-listen", loopback(ps[1])}, c.opts.ProxyArgs...)
		p, m, err := c.start(ctx, name, args, proxyReady)
		if err == nil {
			c.progress("proxy %s serving at %s", name, m[1])
			return &Proxy{Proc: p, Addr: m[1], HTTPAddr: m[2]}, nil
		}
		if attempt > 0 || p == nil || !addrInUse.MatchString(p.Logs(0)) {
			return nil, fmt.Errorf("proxy %s: %w", name, err)
		}
	}
}

// Proc is the node's current process.
func (n *Node) Proc() *Proc { return n.proc.Load() }

// Kill SIGKILLs the node and waits until it is gone.
func (n *Node) Kill() {
	if p := n.Proc(); p != nil {
		p.Kill()
	}
}

// Stop SIGSTOPs the node.
func (n *Node) Stop() error { return n.Proc().Stop() }

// Cont SIGCONTs a stopped node.
func (n *Node) Cont() error { return n.Proc().Cont() }

// Running reports whether the node's process is alive.
func (n *Node) Running() bool { p := n.Proc(); return p != nil && p.Running() }

// Restart kills the node's process if it still runs and starts a new one
// on the same data directory and addresses, returning once it is serving
// (it comes back as a standby candidate; await its role with AwaitStatus).
func (n *Node) Restart(ctx context.Context) error {
	n.Kill()
	return n.launch(ctx)
}

// Node returns the node with id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Arbiter returns a connection to the arbiter (dialed once, reused).
func (c *Cluster) Arbiter(ctx context.Context) (*arbiter.Client, error) {
	c.clientMu.Lock()
	defer c.clientMu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cl, err := arbiter.Dial(ctx, c.Endpoints, arbiter.DialOptions{Logger: quiet, KeepAliveTime: time.Second})
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// Status reads the group's status from the arbiter: the same report as
// `tandem status --json`.
func (c *Cluster) Status(ctx context.Context) (*arbiter.StatusReport, error) {
	cl, err := c.Arbiter(ctx)
	if err != nil {
		return nil, err
	}
	st, err := cl.Group(c.Group).Status(ctx)
	if err != nil {
		return nil, err
	}
	r := st.Report(time.Now())
	return &r, nil
}

// StatusPoll is how often AwaitStatus reads the status.
const StatusPoll = 25 * time.Millisecond

// AwaitStatus polls the status until cond holds and returns that status;
// on timeout (ctx) the error names what and the last status seen.
func (c *Cluster) AwaitStatus(ctx context.Context, what string, cond func(*arbiter.StatusReport) bool) (*arbiter.StatusReport, error) {
	var last *arbiter.StatusReport
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(rctx)
		cancel()
		if err == nil && cond(st) {
			return st, nil
		}
		if err == nil {
			last = st
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("localgroup: waiting for %s: %w (last status: %s; last error: %v)", what, context.Cause(ctx), Describe(last), lastErr)
		case <-time.After(StatusPoll):
		}
	}
}

// Describe renders a status in one line for messages.
func Describe(st *arbiter.StatusReport) string {
	if st == nil {
		return "none"
	}
	var ms []string
	for _, m := range st.Members {
		ms = append(ms, fmt.Sprintf("%s:%s@%d/lsn%d", m.NodeID, m.Role, m.Epoch, m.AppliedLSN))
	}
	return fmt.Sprintf("leader=%q epoch=%d members=[%s] sync=%v", st.Leader, st.Epoch, strings.Join(ms, " "), st.SyncNodes)
}

// Member returns the member id of st, or nil.
func Member(st *arbiter.StatusReport, id string) *arbiter.MemberReport {
	for i := range st.Members {
		if st.Members[i].NodeID == id {
			return &st.Members[i]
		}
	}
	return nil
}

// OneActive holds when exactly one member is active, it holds the leader
// key, and its epoch is at least minEpoch.
func OneActive(minEpoch uint64) func(*arbiter.StatusReport) bool {
	return func(st *arbiter.StatusReport) bool {
		var act []arbiter.MemberReport
		for _, m := range st.Members {
			if m.Role == "active" {
				act = append(act, m)
			}
		}
		return len(act) == 1 && st.Leader == act[0].NodeID && act[0].Epoch >= minEpoch
	}
}

// Settled holds when there is one active at an epoch >= minEpoch, all n
// members are live, every other member is a standby, and the sync set
// holds all n (every standby has caught up).
func Settled(n int, minEpoch uint64) func(*arbiter.StatusReport) bool {
	return func(st *arbiter.StatusReport) bool {
		if !OneActive(minEpoch)(st) || len(st.Members) != n || len(st.SyncNodes) != n {
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

// Converged holds when all n members are live with the same applied LSN
// and the same state digest at it.
func Converged(n int) func(*arbiter.StatusReport) bool {
	return func(st *arbiter.StatusReport) bool {
		if len(st.Members) != n || st.Leader == "" {
			return false
		}
		m0 := st.Members[0]
		for _, m := range st.Members {
			if m.StateDigest == "" || m.StateDigestLSN != m.AppliedLSN || m.AppliedLSN != m0.AppliedLSN || m.StateDigest != m0.StateDigest {
				return false
			}
		}
		return true
	}
}

// Leader returns the node holding the leader key in st, or nil.
func (c *Cluster) Leader(st *arbiter.StatusReport) *Node {
	if st == nil || st.Leader == "" {
		return nil
	}
	return c.Node(st.Leader)
}

// LogDir is the directory of the processes' log files (NAME.log).
func (c *Cluster) LogDir() string { return filepath.Join(c.Dir, "logs") }

// Close kills every process (proxies, nodes, then the arbiter), closes
// the arbiter connection and removes the directory if Start created it
// (and KeepDir is not set). It is safe to call more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		var all []*Proc
		for _, p := range c.Proxies {
			all = append(all, p.Proc)
		}
		for _, n := range c.Nodes {
			if p := n.Proc(); p != nil {
				all = append(all, p)
			}
		}
		all = append(all, slices.DeleteFunc(slices.Clone(c.Arbiters), func(p *Proc) bool { return p == nil })...)
		for _, p := range all {
			p.Kill()
		}
		c.clientMu.Lock()
		if c.client != nil {
			c.client.Close()
			c.client = nil
		}
		c.clientMu.Unlock()
		if c.ownDir && !c.opts.KeepDir {
			os.RemoveAll(c.Dir)
		}
	})
}
