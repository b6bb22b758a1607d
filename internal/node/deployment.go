package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// DeploymentConfig configures leading/alternative deployments (package
// cdc). The change stream is served on the peer port whatever it says.
type DeploymentConfig struct {
	// Name is this deployment's name (its change-stream positions are
	// named after it). Default: the group name. Setting it (or
	// AlternativeOf) makes the node follow the deployment record
	// /tandem/deployments/<Name> in its arbiter, created on first start
	// (leading, or alternative when AlternativeOf is set).
	Name string
	// AlternativeOf lists the leading deployment's arbiter endpoints: this
	// deployment starts as its read-only alternative. LeadingGroup is the
	// leading HA group (default: Group); LeadingName its deployment name
	// (default: LeadingGroup).
	AlternativeOf []string
	LeadingGroup  string
	LeadingName   string
	// Heartbeat is the change stream's heartbeat interval (default 500ms).
	Heartbeat time.Duration
}

func (c DeploymentConfig) managed() bool { return c.Name != "" || len(c.AlternativeOf) > 0 }

// DeploymentStatus is the deployment part of Status.
type DeploymentStatus struct {
	Name         string                `json:"name"`
	Role         string                `json:"role"` // leading, alternative, demoting; "" unknown
	Generation   int64                 `json:"generation"`
	Peer         *cdc.PeerDeployment   `json:"peer,omitempty"`
	Upstream     engine.UpstreamPos    `json:"upstream"`
	Subscription *cdc.Status           `json:"subscription,omitempty"`
	Subscribers  []cdc.SubscriberState `json:"subscribers,omitempty"`
	Final        *cdc.Position         `json:"final,omitempty"`
	LastErr      string                `json:"last_err,omitempty"`
}

var (
	depRole = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "deployment", Name: "role",
		Help: "1 for the deployment role this node follows (leading, alternative, demoting)."}, []string{"node", "role"})
	cdcUpstreamLSN = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "cdc", Name: "upstream_lsn",
		Help: "Alternative: LSN of the last upstream record applied (in the leading deployment's log)."}, []string{"node"})
	cdcLagRecords = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "cdc", Name: "lag_records",
		Help: "Alternative: leading commit LSN minus the applied upstream LSN."}, []string{"node"})
	cdcLagSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "cdc", Name: "lag_seconds",
		Help: "Alternative: replication lag in seconds; rises while the stream stalls (heartbeats stop) even without writes."}, []string{"node"})
	cdcLastApplied = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "cdc", Name: "last_applied_timestamp_seconds",
		Help: "Alternative: unix time of the last upstream record applied."}, []string{"node"})
	cdcSubscriberLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tandem", Subsystem: "cdc", Name: "subscriber_lag_records",
		Help: "Serving side: commit LSN minus the subscriber's acknowledged LSN."}, []string{"node", "subscriber"})
	depMetricsOnce sync.Once
)

// deployment runs the node's part of a leading/alternative pair.
type deployment struct {
	n    *Node
	cfg  DeploymentConfig
	name string
	srv  *cdc.Server

	mu      sync.Mutex
	rec     *cdc.DeploymentRecord
	rev     int64
	sub     *cdc.Subscriber
	subStop context.CancelFunc
	subDone chan struct{}
	subPeer string
	final   *cdc.Position
	lastErr string
	cli     *arbiter.Client
	// tok is the write fencing token (see fenceToken); replaced, never
	// mutated; written by the run goroutine only.
	tok atomic.Pointer[fenceToken]
	// data digest, taken when the log is quiet (state)
	digest, digestAt uint64
	digestVal        string
	quietLSN         uint64
	quietSince       time.Time
}

// registerDeployment creates the change-stream server on the peer gRPC
// server and, for a managed deployment, closes client writes until the
// deployment record is read. Called by Start before serving.
func (n *Node) registerDeployment(s *grpc.Server) {
	depMetricsOnce.Do(func() {
		metrics.Registry.MustRegister(depRole, cdcUpstreamLSN, cdcLagRecords, cdcLagSeconds, cdcLastApplied, cdcSubscriberLag)
	})
	cfg := n.cfg.Deployment
	d := &deployment{n: n, cfg: cfg, name: cfg.Name}
	if d.name == "" {
		d.name = n.cfg.Group
	}
	if cfg.LeadingGroup == "" {
		d.cfg.LeadingGroup = n.cfg.Group
	}
	if cfg.LeadingName == "" {
		d.cfg.LeadingName = d.cfg.LeadingGroup
	}
	d.srv = cdc.NewServer(n.eng, cdc.ServerOptions{Deployment: d.name, Group: n.cfg.Group, NodeID: n.cfg.NodeID,
		Commit: n.cdcCommit, WaitCommit: n.cdcWaitCommit, Heartbeat: cfg.Heartbeat, Logger: n.log.With("component", "cdc")})
	if s != nil {
		d.srv.Register(s)
	}
	if cfg.managed() {
		n.eng.SetReadOnly(func() error {
			return merr.NotServing("deployment %s: its role (leading or alternative) is not known yet", d.name)
		})
	}
	n.dep = d
}

// cdcCommit is the change stream's commit LSN: only the active with
// writes open serves, and only what its sync set holds durable (sync
// mode) or what is durable locally (async).
func (n *Node) cdcCommit() (uint64, error) {
	if _, _, ok := n.gate.state(); !ok {
		return 0, n.notServing()
	}
	if n.sync != nil {
		if !n.sync.serving() {
			return 0, merr.NotServing("node %s: the sync set is not written yet", n.cfg.NodeID)
		}
		if on, lsn := n.eng.ReadLimit(); on {
			return lsn, nil
		}
	}
	return n.eng.DurableLSN(), nil
}

// cdcWaitCommit waits until cdcCommit reaches lsn (event driven: the
// sync set's acknowledgement wait in sync mode, the WAL's durability wait
// otherwise).
func (n *Node) cdcWaitCommit(ctx context.Context, lsn uint64) error {
	if n.sync != nil {
		if on, _ := n.eng.ReadLimit(); on {
			return n.sync.ack(ctx, lsn)
		}
	}
	return n.eng.WaitDurable(ctx, lsn)
}

func (n *Node) isServingActive() bool {
	_, err := n.cdcCommit()
	return err == nil
}

// startDeployment starts the deployment manager (managed deployments).
func (n *Node) startDeployment() {
	if n.dep == nil || !n.dep.cfg.managed() {
		return
	}
	n.bg.Go(func() { n.dep.run(n.ctx) })
}

// fenceToken is what a node of a managed deployment knows of its role,
// checked on the write path: a client write is admitted, and
// acknowledged, only while the token says leading, was opened on this
// node as the serving active, and was confirmed by a read of the record
// less than the record's FenceBound ago (monotonic clock). A write at
// LSN <= open was appended before the token was opened (under an older
// generation): its acknowledgement is refused, as is every one after the
// token leaves the leading role.
type fenceToken struct {
	gen     int64
	role    string
	leading bool      // role leading and opened on this node while active
	open    uint64    // write barrier taken when the token was opened
	checked time.Time // send time of the read that last confirmed the record
	bound   time.Duration
}

// valid reports whether the token lets this node acknowledge writes now.
func (t *fenceToken) valid() bool {
	return t != nil && t.leading && time.Since(t.checked) < t.bound
}

// admitWrite is the engine's read-only check on a leading deployment.
func (d *deployment) admitWrite() error {
	t := d.tok.Load()
	switch {
	case t == nil || !t.leading:
		if _, err := d.n.gate.Allow(); err != nil {
			return err // not the active: the HA refusal names the active
		}
		return merr.NotServing("deployment %s: this node has not confirmed the leading role yet", d.name)
	case !t.valid():
		return merr.NotServing("deployment %s: the leading role (generation %d) was not confirmed by the arbiter for %v (self-fenced)", d.name, t.gen, t.bound)
	}
	return nil
}

// deploymentAck is the last check before a client write at lsn is
// acknowledged (called by the engine's ack hook, after the sync set has
// the write): on a managed deployment, the token it was admitted under
// must still be current and valid.
func (n *Node) deploymentAck(lsn uint64) error {
	d := n.dep
	if d == nil || !d.cfg.managed() {
		return nil
	}
	// deployment/before-ack-check: a write durable (and, in sync mode,
	// on the sync set) that has not passed its generation check yet.
	if err := failpoint.Inject("deployment/before-ack-check"); err != nil {
		return err
	}
	t := d.tok.Load()
	switch {
	case t == nil || !t.leading:
		role, gen := "unknown", int64(0)
		if t != nil {
			role, gen = t.role, t.gen
		}
		return fmt.Errorf("deployment %s is no longer leading on this node (role %s, generation %d)", d.name, role, gen)
	case lsn <= t.open:
		return fmt.Errorf("deployment %s: the write was admitted under an older generation than the current %d", d.name, t.gen)
	case !t.valid():
		return fmt.Errorf("deployment %s: the leading role (generation %d) was not confirmed by the arbiter for %v (self-fenced)", d.name, t.gen, t.bound)
	}
	return nil
}

// run follows the deployment record: a watch wakes it at once on every
// change; a read of the record (linearizable) at least every
// confirmEvery renews the token; a 50ms local check notices this node
// becoming or ceasing to be the serving active.
func (d *deployment) run(ctx context.Context) {
	const tick = 50 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	defer d.stopSub()
	defer func() {
		if d.cli != nil {
			d.cli.Close()
		}
	}()
	var lastPublish, lastStep time.Time
	var lastUp uint64 // upstream LSN in the last published state
	var w struct {
		ch     clientv3.WatchChan
		cancel context.CancelFunc
	}
	defer func() {
		if w.cancel != nil {
			w.cancel()
		}
	}()
	wasActive, failed := false, false
	for {
		active := d.n.isServingActive()
		t0 := d.tok.Load()
		every := min(500*time.Millisecond, t0.boundOrDefault()/4)
		if lastStep.IsZero() || active != wasActive || time.Since(lastStep) >= every || (failed && time.Since(lastStep) >= 200*time.Millisecond) {
			lastStep = time.Now()
			wasActive = active
			rev, err := d.step(ctx, &lastPublish)
			failed = err != nil
			if err != nil && ctx.Err() == nil {
				d.mu.Lock()
				d.lastErr = err.Error()
				d.mu.Unlock()
				d.n.log.Warn("deployment: step failed", "err", err)
			}
			if w.ch == nil && err == nil && rev > 0 && d.cli != nil {
				wctx, cancel := context.WithCancel(ctx)
				w.ch, w.cancel = d.cli.Etcd().Watch(clientv3.WithRequireLeader(wctx), cdc.DeploymentKey(d.name), clientv3.WithRev(rev+1)), cancel
			}
		}
		if err := d.maybePublish(ctx, &lastPublish, &lastUp); err != nil && ctx.Err() == nil {
			d.n.log.Warn("deployment: publish state failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case wr, ok := <-w.ch:
			if !ok || wr.Err() != nil || wr.Canceled {
				w.cancel()
				w.ch, w.cancel = nil, nil
			}
			lastStep = time.Time{} // the record changed (or the watch ended): read it now
		case <-t.C:
		}
	}
}

func (t *fenceToken) boundOrDefault() time.Duration {
	if t == nil || t.bound <= 0 {
		return cdc.DefaultFenceBound
	}
	return t.bound
}

// setToken installs the token for rec as read by a request sent at
// checked; opening a leading token takes a write barrier first.
func (d *deployment) setToken(rec *cdc.DeploymentRecord, checked time.Time, active bool) {
	cur := d.tok.Load()
	nt := &fenceToken{gen: rec.Generation, role: rec.Role, checked: checked, bound: rec.FenceBound()}
	if rec.Role == cdc.RoleLeading && active {
		nt.leading = true
		if cur != nil && cur.leading && cur.gen == rec.Generation {
			nt.open = cur.open
		} else {
			// Close first: client writes are refused until the new token
			// is stored, so every write after the barrier is admitted
			// under it.
			d.tok.Store(&fenceToken{gen: rec.Generation, role: rec.Role, checked: checked, bound: nt.bound})
			nt.open = d.n.eng.WriteBarrier()
		}
	}
	d.tok.Store(nt)
}

// step reads the record and acts on it; it returns the record's mod
// revision.
func (d *deployment) step(ctx context.Context, lastPublish *time.Time) (int64, error) {
	n := d.n
	if d.cli == nil {
		cli, err := arbiter.Dial(ctx, n.cfg.Arbiter, arbiter.DialOptions{Logger: n.log, TLS: n.cfg.Dial.TLS})
		if err != nil {
			return 0, err
		}
		d.cli = cli
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	active := n.isServingActive()
	checked := time.Now()
	rec, rev, err := cdc.GetRecord(cctx, d.cli, d.name)
	if err != nil {
		return 0, err
	}
	if rec == nil {
		rec = &cdc.DeploymentRecord{Name: d.name, Role: cdc.RoleLeading, Group: n.cfg.Group, Generation: 1}
		if len(d.cfg.AlternativeOf) > 0 {
			rec.Role = cdc.RoleAlternative
			rec.Peer = &cdc.PeerDeployment{Name: d.cfg.LeadingName, Arbiter: d.cfg.AlternativeOf, Group: d.cfg.LeadingGroup}
		}
		if err := cdc.PutRecord(cctx, d.cli, rec, 0); err != nil && !errors.Is(err, cdc.ErrConflict) {
			return 0, err
		}
		return d.step(ctx, lastPublish) // read it back (ours or a concurrent one)
	}
	if rec.Role != cdc.RoleLeading {
		// Fence first: no acknowledgement under the old token from here.
		d.setToken(rec, checked, false)
	}
	d.mu.Lock()
	changed := d.rec == nil || d.rec.Generation != rec.Generation || d.rec.Role != rec.Role
	d.rec, d.rev = rec, rev
	if changed {
		d.final = nil
	}
	d.mu.Unlock()
	for _, r := range []string{cdc.RoleLeading, cdc.RoleAlternative, cdc.RoleDemoting} {
		v := 0.0
		if r == rec.Role {
			v = 1
		}
		depRole.WithLabelValues(n.cfg.NodeID, r).Set(v)
	}
	switch rec.Role {
	case cdc.RoleLeading:
		d.stopSub()
		d.setToken(rec, checked, active)
		d.mu.Lock()
		if d.final == nil && active {
			// The local position this deployment became the leading one
			// at (before any client write): a switchover resumes the old
			// leading deployment's subscription after it.
			l := d.tok.Load().open
			d.final = &cdc.Position{Epoch: epochAt(n.eng, l), LSN: l}
		}
		d.mu.Unlock()
		n.eng.SetReadOnly(d.admitWrite)
	case cdc.RoleDemoting:
		n.eng.SetReadOnly(func() error {
			return merr.NotServing("deployment %s is handing the leading role to %s: writes are paused", d.name, peerName(rec))
		})
		d.stopSub()
		d.mu.Lock()
		haveFinal := d.final != nil
		d.mu.Unlock()
		if active && !haveFinal {
			// Writes admitted before the fence are appended by now;
			// their acknowledgements are refused (deploymentAck).
			final := n.eng.WriteBarrier()
			committed := func() bool { c, err := n.cdcCommit(); return err == nil && c >= final }
			if !committed() {
				wctx, wcancel := context.WithTimeout(cctx, 20*time.Millisecond)
				_ = n.cdcWaitCommit(wctx, final)
				wcancel()
			}
			if !committed() && changed {
				// Confirm the fence at once (role demoting at this
				// generation, no final yet): a failover waits for it.
				*lastPublish = time.Now()
				if err := cdc.PutState(cctx, d.cli, d.state(rec)); err != nil {
					return rev, err
				}
				changed = false
			}
			if !committed() {
				if err := n.cdcWaitCommit(cctx, final); err != nil {
					return rev, err
				}
			}
			if c, err := n.cdcCommit(); err != nil {
				return rev, err
			} else if c < final {
				return rev, fmt.Errorf("deployment %s: commit lsn %d below the final %d", d.name, c, final)
			}
			p := cdc.Position{Epoch: epochAt(n.eng, final), LSN: final}
			d.mu.Lock()
			d.final = &p
			d.mu.Unlock()
			*lastPublish = time.Time{}
		}
	case cdc.RoleAlternative:
		n.eng.SetReadOnly(d.refuseAlt)
		if !active {
			d.stopSub()
			break
		}
		if err := d.prepareAlternative(cctx, rec, rev); err != nil {
			return rev, err
		}
		d.ensureSub(rec)
	}
	d.updateMetrics()
	if active && (changed || lastPublish.IsZero()) {
		*lastPublish = time.Now()
		return rev, cdc.PutState(cctx, d.cli, d.state(rec))
	}
	return rev, nil
}

// maybePublish publishes the active's state when due: every 500ms, and
// within about 100ms of a new upstream position (an alternative catching
// up: a switchover waits for it to reach the final position).
func (d *deployment) maybePublish(ctx context.Context, last *time.Time, lastUp *uint64) error {
	d.mu.Lock()
	rec := d.rec
	d.mu.Unlock()
	if rec == nil || d.cli == nil || !d.n.isServingActive() {
		return nil
	}
	up := d.n.eng.UpstreamPosition().LSN
	since := time.Since(*last)
	if since < 500*time.Millisecond && (up == *lastUp || since < 100*time.Millisecond) {
		return nil
	}
	*last, *lastUp = time.Now(), up
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cdc.PutState(cctx, d.cli, d.state(rec))
}

func peerName(rec *cdc.DeploymentRecord) string {
	if rec.Peer != nil {
		return rec.Peer.Name
	}
	return "the alternative"
}

func epochAt(eng *engine.Engine, lsn uint64) uint64 {
	var e uint64
	for _, m := range eng.EpochHistory() {
		if m.LSN <= lsn {
			e = m.Epoch
		}
	}
	return e
}

// refuseAlt is the client-write refusal of an alternative.
func (d *deployment) refuseAlt() error {
	d.mu.Lock()
	rec, sub := d.rec, d.sub
	d.mu.Unlock()
	leading := "the leading deployment"
	if rec != nil && rec.Peer != nil {
		leading = fmt.Sprintf("the leading deployment %s (arbiter %v)", rec.Peer.Name, rec.Peer.Arbiter)
	}
	lag := ""
	if sub != nil {
		st := sub.Status()
		lag = fmt.Sprintf("; replication lag %d records, %.1f s (applied %v)", st.LagRecords, st.LagSeconds, st.Applied)
	}
	return merr.Wrapf(merr.ErrOperationNotSupported,
		"deployment %s is the read-only alternative of %s: client writes are refused, write to the leading deployment%s", d.name, leading, lag)
}

// prepareAlternative carries out a Rejoin (export what the failover lost,
// empty the state) and a Resume (record the switchover's resume position
// in the log) once, then clears them from the record.
func (d *deployment) prepareAlternative(ctx context.Context, rec *cdc.DeploymentRecord, rev int64) error {
	if rec.Peer == nil {
		return fmt.Errorf("deployment %s: alternative without a peer", d.name)
	}
	eng := d.n.eng
	if rec.Rejoin == nil && rec.Resume == nil {
		return nil
	}
	d.stopSub()
	if rj := rec.Rejoin; rj != nil {
		rep, err := cdc.ExportDiverged(eng, rj.After, fmt.Sprintf("deployment-failover-gen%d-after-%d", rj.Generation, rj.After))
		if err != nil {
			return fmt.Errorf("deployment: export diverged records: %w", err)
		}
		d.n.log.Warn("deployment: rejoining as the alternative after a failover; records past the loss window exported",
			"after", rj.After, "records", rep.Records, "file", rep.JSON, "missing", rep.Missing)
		if up := eng.UpstreamPosition(); up.Source != rec.Peer.Name || up.LSN != 0 {
			if lsn, err := eng.ApplyUpstream(ctx, []engine.UpstreamRecord{{Pos: engine.UpstreamPos{Source: rec.Peer.Name},
				Type: engine.RecUpstreamReset, Payload: engine.EmptyCatalogPayload()}}); err != nil {
				return err
			} else if err := eng.WaitDurable(ctx, lsn); err != nil {
				return err
			}
		}
	} else if rs := rec.Resume; rs != nil {
		if up := eng.UpstreamPosition(); up.Source != rs.Source || up.LSN < rs.LSN {
			if lsn, err := eng.ApplyUpstream(ctx, []engine.UpstreamRecord{{Pos: *rs, Type: engine.RecUpstreamMark}}); err != nil {
				return err
			} else if err := eng.WaitDurable(ctx, lsn); err != nil {
				return err
			}
		}
	}
	nr := *rec
	nr.Rejoin, nr.Resume = nil, nil
	return cdc.PutRecord(ctx, d.cli, &nr, rev)
}

func (d *deployment) ensureSub(rec *cdc.DeploymentRecord) {
	key := fmt.Sprintf("%s|%v|%s", rec.Peer.Name, rec.Peer.Arbiter, rec.Peer.Group)
	d.mu.Lock()
	if d.sub != nil && d.subPeer == key {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.stopSub()
	log := d.n.log.With("component", "cdc-subscriber")
	target := &cdc.ArbiterTarget{Endpoints: rec.Peer.Arbiter, Group: rec.Peer.Group, Logger: log, TLS: d.n.cfg.Dial.TLS}
	sub := cdc.NewSubscriber(cdc.SubscriberOptions{Target: target, Group: rec.Peer.Group, Name: d.name,
		Applier: &cdc.EngineApplier{Eng: d.n.eng}, Heartbeat: d.cfg.Heartbeat, Logger: log,
		DialOptions: d.n.upstreamDial})
	ctx, cancel := context.WithCancel(d.n.ctx)
	done := make(chan struct{})
	if !d.n.bg.Go(func() {
		defer close(done)
		defer target.Close()
		sub.Run(ctx)
	}) {
		cancel()
		target.Close()
		return // the node is shutting down
	}
	d.mu.Lock()
	d.sub, d.subStop, d.subDone, d.subPeer = sub, cancel, done, key
	d.mu.Unlock()
	d.n.log.Info("deployment: subscribing to the leading deployment", "peer", rec.Peer.Name, "arbiter", rec.Peer.Arbiter,
		"from", d.n.eng.UpstreamPosition())
}

// stopSub stops the subscriber and waits for it (nothing is applied after
// it returns).
func (d *deployment) stopSub() {
	d.mu.Lock()
	stop, done := d.subStop, d.subDone
	d.subStop, d.subDone, d.subPeer = nil, nil, ""
	d.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (d *deployment) state(rec *cdc.DeploymentRecord) *cdc.DeploymentState {
	n := d.n
	c, _ := n.cdcCommit()
	st := &cdc.DeploymentState{Name: d.name, Node: n.cfg.NodeID, Role: rec.Role, Generation: rec.Generation,
		Local: cdc.Position{Epoch: epochAt(n.eng, c), LSN: c}, LastLSN: n.eng.LastLSN(),
		Upstream: n.eng.UpstreamPosition(), Subscribers: d.srv.Subscribers(), Updated: time.Now().UTC()}
	if last := n.eng.LastLSN(); last != d.quietLSN {
		d.quietLSN, d.quietSince = last, time.Now()
	} else if last != d.digestAt && time.Since(d.quietSince) > 300*time.Millisecond {
		if lsn, dg, err := n.eng.DataDigest(); err == nil && lsn == last {
			d.digestAt, d.digestVal = lsn, dg
		}
	}
	if d.digestAt == n.eng.LastLSN() {
		st.DataDigest, st.DataDigestLSN = d.digestVal, d.digestAt
	}
	d.mu.Lock()
	st.Final = d.final
	if d.sub != nil {
		s := d.sub.Status()
		st.Subscription = &s
	}
	d.mu.Unlock()
	return st
}

func (d *deployment) updateMetrics() {
	id := d.n.cfg.NodeID
	d.mu.Lock()
	sub := d.sub
	d.mu.Unlock()
	cdcUpstreamLSN.WithLabelValues(id).Set(float64(d.n.eng.UpstreamPosition().LSN))
	if sub != nil {
		s := sub.Status()
		cdcLagRecords.WithLabelValues(id).Set(float64(s.LagRecords))
		cdcLagSeconds.WithLabelValues(id).Set(s.LagSeconds)
		if !s.LastApplied.IsZero() {
			cdcLastApplied.WithLabelValues(id).Set(float64(s.LastApplied.UnixNano()) / 1e9)
		}
	} else {
		cdcLagRecords.WithLabelValues(id).Set(0)
		cdcLagSeconds.WithLabelValues(id).Set(0)
	}
	for _, s := range d.srv.Subscribers() {
		cdcSubscriberLag.WithLabelValues(id, s.Subscriber).Set(float64(s.LagRecords))
	}
}

// deploymentStatus is Status().Deployment.
func (n *Node) deploymentStatus() *DeploymentStatus {
	d := n.dep
	if d == nil {
		return nil
	}
	st := &DeploymentStatus{Name: d.name, Upstream: n.eng.UpstreamPosition(), Subscribers: d.srv.Subscribers()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rec != nil {
		st.Role, st.Generation, st.Peer = d.rec.Role, d.rec.Generation, d.rec.Peer
	}
	if d.sub != nil {
		s := d.sub.Status()
		st.Subscription = &s
	}
	st.Final, st.LastErr = d.final, d.lastErr
	return st
}
