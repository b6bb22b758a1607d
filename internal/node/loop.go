package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/ha"
)

// loop drives the role machine. Only run's goroutine touches its fields;
// helpers post closures to inbox.
type loop struct {
	n   *Node
	cfg Config
	m   *ha.Machine
	ctx context.Context

	inbox chan func()

	cli   *arbiter.Client
	group *arbiter.Group
	sess  *arbiter.Session

	sessionPending bool
	probing        bool
	publishing     bool
	lastPub        time.Time
	pubDirty       bool
	lastPubStatus  arbiter.MemberStatus
	members        []arbiter.MemberStatus
	memberMap      map[string]arbiter.MemberStatus // as last observed
	membersRev     int64
	syncObserved   *arbiter.SyncSet // the arbiter's sync set; nil if none
	pos            ha.Position
	unreachableLog time.Time

	switching  bool   // a switchover holds the write gate closed
	handedOver uint64 // highest epoch this node handed over: never reopen writes at or below it

	// State digest (published in the member status): computed in the
	// background once the applied LSN has been still for digestQuiet, or
	// every digestMaxAge under continuous load.
	digesting      bool
	digest         string
	digestLSN      uint64
	digestAt       time.Time
	appliedSeen    uint64
	appliedChanged time.Time
}

const (
	digestQuiet  = 300 * time.Millisecond
	digestMaxAge = 30 * time.Second
)

func newLoop(n *Node) *loop {
	epoch, lsn := n.eng.Position()
	pos := ha.Position{Epoch: epoch, LSN: lsn}
	return &loop{
		n: n, cfg: n.cfg, ctx: n.ctx,
		m:     ha.New(n.cfg.HA, ha.Self{Addr: n.addr, PeerAddr: n.peer, Position: pos}),
		inbox: make(chan func(), 256),
		pos:   pos,
	}
}

// post runs f on the loop goroutine (dropped once the loop is gone).
func (l *loop) post(f func()) {
	select {
	case l.inbox <- f:
	case <-l.ctx.Done():
	}
}

func (l *loop) run() {
	defer close(l.n.loopDone)
	defer func() {
		if l.cli != nil {
			l.cli.Close()
		}
	}()
	l.step(ha.Tick{Now: l.n.clock.Now()})
	l.n.bg.Go(l.dial)

	tick := time.NewTicker(l.cfg.TickInterval)
	defer tick.Stop()
	renew := time.NewTicker(l.cfg.HA.RenewInterval)
	defer renew.Stop()
	engFailed := l.n.eng.Failed() // nil once handled
	for {
		select {
		case <-engFailed:
			engFailed = nil
			l.step(ha.Tick{Now: time.Now()})
			l.engineFailed()
		case <-l.n.stopReq:
			l.step(ha.Stop{})
			return
		case <-l.ctx.Done():
			return
		case f := <-l.inbox:
			// Time reaches the machine before every event, so that after
			// a pause (SIGSTOP) an expired deadline fences first.
			l.step(ha.Tick{Now: l.n.clock.Now()})
			f()
		case now := <-tick.C:
			l.step(ha.Tick{Now: l.n.clock.Now()})
			l.checkPosition()
			if l.n.repl != nil {
				l.n.repl.sampleLag(now)
			}
			l.maybeDigest(now)
			l.maybePublish()
		case <-renew.C:
			l.probe()
		case req := <-l.n.switchReq:
			l.step(ha.Tick{Now: l.n.clock.Now()})
			l.startSwitch(req)
		case o := <-l.n.switchDone:
			l.endSwitch(o)
		}
	}
}

// dial connects to the arbiter, retrying until it answers, then starts
// the session and the observer.
func (l *loop) dial() {
	backoff := 100 * time.Millisecond
	for l.ctx.Err() == nil {
		cli, err := arbiter.Dial(l.ctx, l.cfg.Arbiter, l.cfg.Dial)
		if err == nil {
			l.post(func() {
				l.cli, l.group = cli, cli.Group(l.cfg.Group)
				l.n.group.Store(l.group)
				l.n.log.Info("arbiter connected", "endpoints", l.cfg.Arbiter)
				g := l.group
				l.n.bg.Go(func() { l.checkMode(g) })
			})
			return
		}
		l.post(func() {
			l.logUnreachable("dial arbiter", err)
			l.step(ha.ArbiterUnreachable{})
		})
		if !l.wait(backoff) {
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// checkMode reads the group's recorded acknowledgement mode (retrying
// until the arbiter answers) and, when it matches this node's or none is
// recorded yet, starts the observer and the session; otherwise the node
// fails (Node.Failed) without ever campaigning. The first win records the
// mode (arbiter.Campaign), which also refuses a campaigner whose mode
// differs, should two nodes start in different modes at once.
func (l *loop) checkMode(g *arbiter.Group) {
	backoff := 100 * time.Millisecond
	for l.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(l.ctx, 2*time.Second)
		gm, err := g.Mode(ctx)
		cancel()
		if err == nil {
			l.post(func() {
				if gm != nil && gm.Mode != l.cfg.SyncMode {
					l.modeMismatch(gm.Mode)
					return
				}
				l.n.bg.Go(l.observe)
				l.newSession()
			})
			return
		}
		l.post(func() { l.logUnreachable("read group mode", err) })
		if !l.wait(backoff) {
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// modeMismatch fails the node: the group runs in mode groupMode, this
// node in another. It stops the role machine (an active would resign).
func (l *loop) modeMismatch(groupMode string) {
	l.n.fail(fmt.Errorf("node: %w: group %s runs in %s mode (recorded in the arbiter), this node was started with --sync-mode %s: "+
		"start it with --sync-mode %s, or stop every node of the group and change its mode with `tandem set-mode --group %s --mode %s` (README, \"Changing a group's mode\")",
		ErrModeMismatch, l.cfg.Group, groupMode, l.cfg.SyncMode, groupMode, l.cfg.Group, l.cfg.SyncMode))
	l.step(ha.Stop{})
}

// wait sleeps d unless the loop ends first (helpers' retry backoff).
func (l *loop) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}

func (l *loop) logUnreachable(what string, err error) {
	if time.Since(l.unreachableLog) >= 5*time.Second {
		l.unreachableLog = time.Now()
		l.n.log.Warn("arbiter unreachable", "op", what, "err", err)
	}
}

// step feeds ev to the machine and executes the actions.
func (l *loop) step(ev ha.Event) {
	before := l.m.Role()
	acts := l.m.Step(ev)
	for _, a := range acts {
		l.exec(a)
	}
	after := l.m.Role()
	if after != before {
		l.n.log.Info("role change", "from", before.String(), "to", after.String(), "epoch", l.m.Epoch())
		setRoleMetric(l.cfg.NodeID, after)
		if after == ha.Fenced {
			haFences.WithLabelValues(l.cfg.NodeID).Inc()
		}
	}
	haEpoch.WithLabelValues(l.cfg.NodeID).Set(float64(l.m.Epoch()))
	if _, isTick := ev.(ha.Tick); !isTick || len(acts) > 0 || after != before {
		l.updateView()
	}
}

func (l *loop) exec(a ha.Action) {
	switch a := a.(type) {
	case ha.CloseWrites:
		l.n.gate.close()
		if l.n.sync != nil {
			l.n.sync.deactivate()
		}
		haWritesOpen.WithLabelValues(l.cfg.NodeID).Set(0)
		l.n.log.Info("writes closed", "epoch", l.m.Epoch())
	case ha.OpenWrites:
		if l.switching || a.Epoch <= l.handedOver {
			// A switchover holds writes closed (or handed this epoch over).
			return
		}
		if l.n.sync != nil {
			l.n.sync.activate(a.Epoch) // before any write can pass the gate
		}
		l.n.gate.open(a.Epoch, a.Until)
		haWritesOpen.WithLabelValues(l.cfg.NodeID).Set(1)
		l.n.log.Info("writes open", "epoch", a.Epoch)
	case ha.ExtendWrites:
		l.n.gate.extend(a.Until)
	case ha.Campaign:
		l.campaign()
	case ha.Promote:
		l.promote(a.Epoch)
	case ha.Follow:
		l.n.log.Info("following", "leader", a.Leader.NodeID, "addr", a.Leader.Addr, "peer", a.Leader.PeerAddr, "epoch", a.Leader.Epoch)
		if r := l.cfg.Replicator; r != nil {
			r.Follow(a.Leader)
		}
	case ha.StopFollow:
		if r := l.cfg.Replicator; r != nil {
			r.StopFollow()
		}
	case ha.EndLeaderLease:
		l.endLeaderLease(a.LeaseID)
	case ha.Resign:
		l.resign()
	case ha.NewSession:
		l.sess = nil
		l.n.sess.Store(nil)
		l.newSession()
	case ha.PublishStatus:
		l.pubDirty = true
		l.maybePublish()
	}
}

// newSession obtains a session in the background (retrying) and reports
// SessionUp.
func (l *loop) newSession() {
	if l.sessionPending || l.group == nil || l.m.Role() == ha.Stopped {
		return
	}
	l.sessionPending = true
	g, ttl := l.group, l.cfg.HA.LeaseTTL
	l.n.bg.Go(func() {
		backoff := 100 * time.Millisecond
		for l.ctx.Err() == nil {
			t0 := l.n.clock.Now() // the lease's proof is measured on the fence clock
			ctx, cancel := context.WithTimeout(l.ctx, ttl)
			s, err := g.NewSession(ctx, ttl)
			cancel()
			if err == nil {
				l.post(func() { l.sessionUp(s, t0) })
				return
			}
			l.post(func() {
				l.logUnreachable("new session", err)
				l.step(ha.ArbiterUnreachable{})
			})
			if !l.wait(backoff) {
				return
			}
			backoff = min(backoff*2, time.Second)
		}
	})
}

func (l *loop) sessionUp(s *arbiter.Session, sentAt time.Time) {
	l.sessionPending = false
	if l.m.Role() == ha.Stopped {
		// Bounded so that shutdown, which joins this goroutine, cannot hang
		// on an unreachable arbiter: an unrevoked lease expires on its own.
		ttl := l.cfg.HA.LeaseTTL
		l.n.bg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), ttl)
			defer cancel()
			s.Close(ctx)
		})
		return
	}
	l.sess = s
	l.n.sess.Store(s)
	id := s.LeaseID()
	l.n.log.Info("session up", "lease", id, "ttl", s.TTL())
	l.n.bg.Go(func() {
		select {
		case <-s.Done():
			l.post(func() { l.step(ha.SessionLost{LeaseID: id}) })
			l.revokeLost(s)
		case <-l.ctx.Done():
		}
	})
	l.pubDirty = true
	l.lastPub = time.Time{}
	l.step(ha.SessionUp{LeaseID: id, SentAt: sentAt})
	l.maybePublish()
}

// revokeLost makes sure a session this node gave up on is gone at the
// arbiter too: Done can close while the lease still lives there (the
// client stopped hearing back, e.g. during an arbiter outage), and its
// leader key would block the next election until it expired. Revoking a
// lease this process held and no longer uses is always safe.
func (l *loop) revokeLost(s *arbiter.Session) {
	for range 20 {
		ctx, cancel := context.WithTimeout(l.ctx, time.Second)
		err := s.Close(ctx)
		cancel()
		if err == nil || !l.wait(500*time.Millisecond) {
			return
		}
	}
}

// probe renews the lease once (one probe in flight at a time); a
// keep-alive sent at t0 and acknowledged proves the lease until t0+TTL.
func (l *loop) probe() {
	s := l.sess
	if s == nil || l.probing {
		return
	}
	l.probing = true
	timeout := l.cfg.HA.LeaseTTL - l.cfg.HA.FenceMargin
	l.n.bg.Go(func() {
		t0 := l.n.clock.Now() // the lease's proof is measured on the fence clock
		ctx, cancel := context.WithTimeout(l.ctx, timeout)
		err := s.KeepAliveOnce(ctx)
		cancel()
		took := l.n.clock.Now().Sub(t0)
		l.post(func() {
			l.probing = false
			id := s.LeaseID()
			switch {
			case err == nil:
				haRenewSeconds.WithLabelValues(l.cfg.NodeID).Observe(took.Seconds())
				l.step(ha.Renewed{LeaseID: id, SentAt: t0})
			case errors.Is(err, arbiter.ErrLeaseLost):
				haRenewFailures.WithLabelValues(l.cfg.NodeID).Inc()
				l.n.log.Warn("lease lost", "lease", id, "err", err)
				l.step(ha.SessionLost{LeaseID: id})
			default:
				haRenewFailures.WithLabelValues(l.cfg.NodeID).Inc()
				if l.ctx.Err() == nil {
					l.logUnreachable("renew lease", err)
					l.step(ha.ArbiterUnreachable{})
				}
			}
		})
	})
}

// leaderRefused: the receiver found the followed active's peer port
// refusing connections after its stream broke.
func (l *loop) leaderRefused(peer string) {
	if ms := l.m.Status(); ms.HasLeader && ms.Leader.PeerAddr == peer {
		l.step(ha.LeaderPeerRefused{LeaseID: ms.Leader.LeaseID})
	}
}

// endLeaderLease asks the arbiter to revoke the dead active's lease (in
// the background); the leader key's deletion then reaches the loop
// through the watch like any lease expiry.
func (l *loop) endLeaderLease(leaseID int64) {
	g := l.group
	if g == nil {
		return
	}
	l.n.bg.Go(func() {
		ctx, cancel := context.WithTimeout(l.ctx, l.cfg.HA.LeaseTTL)
		defer cancel()
		ended, err := g.EndLeaderLease(ctx, leaseID)
		result := "ended"
		switch {
		case err != nil:
			result = "error"
			l.n.log.Warn("ending the dead active's lease failed (it expires on its own)", "lease", leaseID, "err", err)
		case !ended:
			result = "gone"
		default:
			l.n.log.Warn("the active's peer port refuses connections: ended its lease early", "lease", leaseID)
		}
		haLeaseEnds.WithLabelValues(l.cfg.NodeID, result).Inc()
	})
}

func (l *loop) campaign() {
	s, g := l.sess, l.group
	if s == nil || g == nil {
		l.step(ha.CampaignResult{Err: errors.New("node: no session")})
		return
	}
	me := arbiter.Leader{NodeID: l.cfg.NodeID, Addr: l.n.addr, PeerAddr: l.n.peer}
	timeout := l.cfg.HA.LeaseTTL
	l.n.bg.Go(func() {
		ctx, cancel := context.WithTimeout(l.ctx, timeout)
		defer cancel()
		// Whatever this node's mode: when the group has a sync set, only
		// its members hold every acknowledged write, so the arbiter lets
		// only them win (decided from its state, not from our flags).
		won, epoch, err := g.Campaign(ctx, s, me, l.candidate())
		var rev int64
		var groupMode string // the group's mode, when it differs from ours
		if errors.Is(err, arbiter.ErrModeMismatch) {
			if gm, gerr := g.Mode(ctx); gerr == nil && gm != nil {
				groupMode = gm.Mode
			}
		}
		if won {
			// The leader key's create revision orders my win against the
			// watch events still queued (won also when the key already was
			// mine: then, if it was handed over to me, this is the old
			// leader's create revision, older than the handover; the epoch,
			// not the revision, fences the events of earlier leaders).
			if ld, _, lerr := g.Leader(ctx); lerr == nil && ld != nil && ld.LeaseID == s.LeaseID() {
				rev = ld.CreateRev
			}
		}
		l.post(func() {
			if l.sess != s {
				return // that session is gone; so is any key won on it
			}
			result := "lost"
			switch {
			case errors.Is(err, arbiter.ErrNotInSyncSet):
				result = "not_in_sync_set"
				l.n.log.Info("campaign refused: not in the sync set", "err", err)
			case errors.Is(err, arbiter.ErrModeMismatch):
				result = "mode_mismatch"
				l.n.log.Error("campaign refused", "err", err)
			case err != nil:
				result = "error"
				l.n.log.Warn("campaign failed", "err", err)
			case won:
				result = "won"
				l.n.log.Info("campaign won", "epoch", epoch)
			}
			haElections.WithLabelValues(l.cfg.NodeID, result).Inc()
			l.step(ha.CampaignResult{Won: won, Epoch: epoch, Rev: rev, Err: err})
			if errors.Is(err, arbiter.ErrModeMismatch) {
				l.modeMismatch(cmp.Or(groupMode, "another"))
			}
		})
	})
}

// candidate is this node's identity for a campaign: its data dir's
// incarnation (the sync set must list node@incarnation) and its mode
// (checked against, or recorded as, the group's).
func (l *loop) candidate() arbiter.Candidate {
	inc, legacy := l.n.inc.get()
	return arbiter.Candidate{Incarnation: inc, Legacy: legacy, Mode: l.cfg.SyncMode}
}

func (l *loop) promote(epoch uint64) {
	eng, rep := l.n.eng, l.cfg.Replicator
	l.n.bg.Go(func() {
		var lsn uint64
		var err error
		if rep != nil {
			err = rep.BeforePromote(l.ctx, epoch)
		}
		if err == nil {
			lsn, err = eng.WriteEpochStart(l.ctx, epoch)
		}
		l.post(func() {
			if err != nil {
				l.n.log.Error("promotion failed", "epoch", epoch, "err", err)
			} else {
				haPromotions.WithLabelValues(l.cfg.NodeID).Inc()
				l.n.log.Info("promoted", "epoch", epoch, "lsn", lsn)
			}
			l.step(ha.Promoted{Epoch: epoch, LSN: lsn, Err: err})
		})
	})
}

// resign revokes the session's lease now (synchronously, bounded), so its
// leader and member keys vanish at once.
func (l *loop) resign() {
	s := l.sess
	l.sess = nil
	l.n.sess.Store(nil)
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		l.n.log.Warn("resign: revoke lease", "lease", s.LeaseID(), "err", err)
		return
	}
	l.n.log.Info("resigned", "lease", s.LeaseID())
}

// engineFailed resigns a node whose storage engine failed for good (a
// sticky WAL error: disk full, fsync EIO): the machine closes writes,
// revokes the lease (dropping the leader key, so a standby takes over at
// once) and becomes Broken, publishing role "broken" on a new session; it
// never campaigns again. Recovery: fix the cause (free space), restart the
// node: it recovers its WAL and rejoins as a standby.
func (l *loop) engineFailed() {
	cause := l.n.eng.Cause()
	l.n.log.Error("storage engine failed: resigning; this node refuses clients and will not campaign until restarted (fix the cause, e.g. free disk space, then restart it)",
		"cause", cause, "role", l.m.Role().String(), "epoch", l.m.Epoch())
	engineBroken.WithLabelValues(l.cfg.NodeID).Set(1)
	l.step(ha.EngineFailed{Cause: cause})
}

// checkPosition reports the local log's position to the machine.
func (l *loop) checkPosition() {
	epoch, lsn := l.n.eng.Position()
	if p := (ha.Position{Epoch: epoch, LSN: lsn}); p != l.pos {
		l.pos = p
		l.step(ha.LocalPosition{Position: p})
	}
}

// maybeDigest starts a state digest in the background when the applied
// LSN moved since the last one and has been still for digestQuiet (or the
// last digest is older than digestMaxAge).
func (l *loop) maybeDigest(now time.Time) {
	applied := l.n.eng.LastLSN()
	if applied != l.appliedSeen {
		l.appliedSeen, l.appliedChanged = applied, now
	}
	if l.digesting || (l.digest != "" && l.digestLSN == applied) {
		return
	}
	if now.Sub(l.appliedChanged) < digestQuiet && now.Sub(l.digestAt) < digestMaxAge {
		return
	}
	l.digesting = true
	eng := l.n.eng
	l.n.bg.Go(func() {
		lsn, d, err := eng.DigestLSN()
		l.post(func() {
			l.digesting = false
			l.digestAt = time.Now()
			if err != nil {
				return // engine closing
			}
			l.digest, l.digestLSN = d, lsn
		})
	})
}

// memberStatus is what this node publishes about itself. Epoch is its
// log's position epoch (the newest epoch-start record it holds), so that
// (Epoch, DurableLSN) ranks members for elections the same way on every
// node.
func (l *loop) memberStatus() arbiter.MemberStatus {
	inc, legacy := l.n.inc.get()
	var waitSince int64
	if l.n.sync != nil {
		if t := l.n.sync.waitingSince(); !t.IsZero() {
			waitSince = t.UnixMilli()
		}
	}
	return arbiter.MemberStatus{
		NodeID: l.cfg.NodeID, Addr: l.n.addr, PeerAddr: l.n.peer, HTTPAddr: l.n.HTTPAddr(),
		Role: l.m.Role().String(), Epoch: l.pos.Epoch,
		DurableLSN: l.pos.LSN, AppliedLSN: l.n.eng.LastLSN(),
		StateDigest: l.digest, StateDigestLSN: l.digestLSN,
		Incarnation: inc, LegacyIncarnation: legacy,
		WaitingSinceUnixMs: waitSince,
	}
}

// maybePublish writes the member status when it changed (at most every
// PublishMinInterval) or PublishRefresh passed, one write at a time.
func (l *loop) maybePublish() {
	s, g := l.sess, l.group
	if s == nil || g == nil || l.publishing {
		return
	}
	st := l.memberStatus()
	since := time.Since(l.lastPub)
	changed := l.pubDirty || st != l.lastPubStatus
	if !(changed && since >= l.cfg.PublishMinInterval) && since < l.cfg.PublishRefresh {
		return
	}
	l.publishing, l.pubDirty, l.lastPub, l.lastPubStatus = true, false, time.Now(), st
	timeout := l.cfg.HA.RenewInterval
	l.n.bg.Go(func() {
		ctx, cancel := context.WithTimeout(l.ctx, timeout)
		err := g.PutMember(ctx, s, st)
		cancel()
		l.post(func() {
			l.publishing = false
			if err != nil {
				l.pubDirty = true
				if l.ctx.Err() == nil && !errors.Is(err, arbiter.ErrLeaseLost) {
					l.logUnreachable("publish status", err)
				}
			}
		})
	})
}

// observe reads the group's leader and members, then follows the changes;
// after a watch failure it reads again.
func (l *loop) observe() {
	g := l.group
	backoff := 50 * time.Millisecond
	for l.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(l.ctx, 2*time.Second)
		st, err := g.Status(ctx)
		cancel()
		if err != nil {
			l.post(func() { l.logUnreachable("read group", err) })
			if !l.wait(backoff) {
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		members := map[string]arbiter.MemberStatus{}
		for _, m := range st.Members {
			members[m.NodeID] = m
		}
		rev, leader, snap, set := st.Rev, st.Leader, cloneMembers(members), st.Sync
		l.post(func() {
			l.observeLeader(leader, rev)
			l.syncObserved = set
			l.observeMembers(snap, rev)
		})
		for ev := range g.Watch(l.ctx, rev) {
			switch ev.Kind {
			case arbiter.EventLeaderSet:
				observeLeaderPoint(l.cfg.NodeID)
				ld, rev := ev.Leader, ev.Rev
				l.post(func() { l.observeLeader(ld, rev) })
			case arbiter.EventLeaderDeleted:
				rev := ev.Rev
				l.post(func() { l.observeLeader(nil, rev) })
			case arbiter.EventMemberSet:
				members[ev.Member.NodeID] = *ev.Member
				snap, rev := cloneMembers(members), ev.Rev
				l.post(func() { l.observeMembers(snap, rev) })
			case arbiter.EventMemberDeleted:
				delete(members, ev.Member.NodeID)
				snap, rev := cloneMembers(members), ev.Rev
				l.post(func() { l.observeMembers(snap, rev) })
			case arbiter.EventSyncSet:
				set := ev.Sync
				l.post(func() {
					l.syncObserved = set
					if l.memberMap != nil {
						l.observeMembers(l.memberMap, l.membersRev)
					}
				})
			case arbiter.EventErr:
				err := ev.Err
				l.post(func() { l.n.log.Warn("arbiter watch interrupted", "err", err) })
			}
		}
	}
}

func cloneMembers(m map[string]arbiter.MemberStatus) map[string]arbiter.MemberStatus {
	out := make(map[string]arbiter.MemberStatus, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (l *loop) observeLeader(ld *arbiter.Leader, rev int64) {
	if ld == nil {
		l.step(ha.LeaderGone{Rev: rev})
		return
	}
	l.step(ha.LeaderObserved{Rev: rev, Leader: ha.LeaderInfo{
		NodeID: ld.NodeID, Addr: ld.Addr, PeerAddr: ld.PeerAddr, Epoch: ld.Epoch, LeaseID: ld.LeaseID,
	}})
}

func (l *loop) observeMembers(members map[string]arbiter.MemberStatus, rev int64) {
	l.memberMap, l.membersRev = members, rev
	list := make([]arbiter.MemberStatus, 0, len(members))
	for _, m := range members {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b arbiter.MemberStatus) int {
		switch {
		case a.NodeID < b.NodeID:
			return -1
		case a.NodeID > b.NodeID:
			return 1
		}
		return 0
	})
	l.members = list
	hm := make([]ha.Member, len(list))
	for i, m := range list {
		eligible := true
		if r := l.cfg.Replicator; r != nil {
			eligible = r.Eligible(m)
		}
		if l.syncObserved != nil {
			// As the arbiter's Campaign decides, whatever our mode.
			eligible = eligible && l.syncObserved.Admits(m.NodeID, m.Incarnation, m.LegacyIncarnation)
		}
		if m.Role == ha.Broken.String() {
			eligible = false // its engine failed: nobody waits for it
		}
		hm[i] = ha.Member{NodeID: m.NodeID, Position: ha.Position{Epoch: m.Epoch, LSN: m.DurableLSN}, Eligible: eligible}
	}
	l.step(ha.MembersObserved{Members: hm, Rev: rev})
	l.updateView()
}

// updateView publishes the loop's state for Status, Await and the gates.
func (l *loop) updateView() {
	ms := l.m.Status()
	v := l.n.initialView()
	v.Role, v.Epoch = ms.Role.String(), ms.Epoch
	if ms.HasLeader {
		v.Leader = &LeaderStatus{NodeID: ms.Leader.NodeID, Addr: ms.Leader.Addr, PeerAddr: ms.Leader.PeerAddr, Epoch: ms.Leader.Epoch}
	}
	v.Session, v.LeaseID, v.ArbiterReachable, v.Following = ms.Session, ms.LeaseID, ms.Reachable, ms.Following
	v.FenceDeadline = ms.Deadline
	v.Members = l.members
	v.Broken = ms.Broken
	l.n.publishView(v)
}
