package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/lifecycle"
)

// Sync policies (Config.SyncPolicy): what a sync-mode active does while
// fewer than MinSyncStandbys standbys are in the sync set.
const (
	// SyncStrict: writes wait (bounded by each request's deadline) until
	// enough standbys are back in the sync set.
	SyncStrict = "strict"
	// SyncDegrade: after DegradeAfter, writes are acknowledged after the
	// local fsync only; status and metrics say so. No standby can be
	// promoted automatically meanwhile (none is in the sync set).
	SyncDegrade = "degrade"
)

// syncSet keeps the arbiter's sync set S while this node is the active in
// sync mode, and decides when a client write may be acknowledged
// (docs/architecture.md §3.3).
//
// Invariant: every write this node has acknowledged at epoch is durable on
// every standby listed in S (as written to the arbiter at epoch). It holds
// because
//   - nothing is acknowledged at an epoch before S has been written at that
//     epoch (S then lists this node and the standbys already holding
//     everything this node has);
//   - a standby joins S only after it was added to the set of standbys
//     every acknowledgement waits for (joining), and after that its durable
//     LSN reached this node's last LSN;
//   - a standby leaves S only after the smaller S is written to the
//     arbiter: until then acknowledgements keep waiting for it;
//   - a write of S whose outcome is unknown (an error: a timeout may hide
//     a commit) leaves S unknown: the standbys it proposed that members
//     does not list become uncertain, and acknowledgements wait for
//     members ∪ uncertain ∪ joining until a later write succeeds. So the
//     standbys acknowledgements wait for always include every standby the
//     arbiter may list, even while X, whose join was ambiguous, is gone:
//     X stops being waited for only once a write without it succeeded
//     (and the failed write cannot land after that one: PutSyncSet
//     compares the sync key's revision as read).
//
// Only the campaign of a node listed in S can win (arbiter.Campaign with
// requireSync), so a promoted node holds every acknowledged write.
//
// Reads follow the same rule: the engine's read limit (the commit LSN) is
// the LSN every standby of S has durable (everything local while S lists
// no standby: nobody else can be promoted), so a read never returns a
// write a failover could lose. Until S is written at the epoch the node
// serves no client request (serving).
type syncSet struct {
	// bg tracks the manager goroutine of each activation; wait joins it.
	bg           lifecycle.Group
	self         string
	k            int           // MinSyncStandbys
	policy       string        // SyncStrict or SyncDegrade
	timeout      time.Duration // a standby of S that lags a write this long is dropped
	degradeAfter time.Duration
	sender       syncPeers // standbys named node@incarnation (memberPeers)
	eng          *engine.Engine
	// put writes S at epoch, guarded by this node's leader key.
	put func(ctx context.Context, epoch uint64, nodes []string) error
	log *slog.Logger

	mu    sync.Mutex
	epoch uint64 // epoch led; 0 when not the active. Guarded by mu.
	// gen counts activations and deactivations: a manager goroutine acts
	// only while gen is the one it was started with, so an old manager
	// (activate, deactivate, activate again at the same epoch) cannot
	// change the state of the new one. Guarded by mu.
	gen      uint64
	written  bool                // S was written at epoch. Guarded by mu.
	members  []string            // standbys in S as last written successfully at epoch, sorted. Guarded by mu.
	joining  map[string]struct{} // standbys acknowledgements wait for before they are in S. Guarded by mu.
	degraded bool                // acknowledging without enough standbys. Guarded by mu.
	commit   uint64              // the engine's read limit at epoch. Guarded by mu.
	changed  chan struct{}       // closed and replaced on every change. Guarded by mu.
	stop     context.CancelFunc  // ends the running manager. Guarded by mu.
	done     chan struct{}       // closed when the latest manager goroutine has returned. Guarded by mu.
	// uncertain holds the standbys the arbiter's S may list although
	// members does not: proposed by a write whose outcome is unknown (it
	// failed, or its manager was replaced before it could record the
	// outcome). Acknowledgements and the commit LSN wait for them too;
	// the next successful write empties it. Guarded by mu.
	uncertain map[string]struct{}

	// waiting counts the client writes currently held back because S
	// lists fewer than k standbys (strict policy, or degrade policy before
	// DegradeAfter). Guarded by mu.
	waiting int
	// waitSince is when the current waiting episode began (the first
	// write held back since S last had k standbys); zero when none.
	// lastWaitWarn is when the episode was last logged at WARN (at its
	// start, then every waitWarnEvery while writes wait). Guarded by mu.
	waitSince, lastWaitWarn time.Time
	// waitedTotal counts the writes held back during the episode. Guarded
	// by mu.
	waitedTotal int

	// onServing, if set, is called (without locks held) once S is written
	// at an epoch, when the node starts serving clients.
	onServing func()
	// onWaiting, if set, is called (without locks held) when a waiting
	// episode starts or ends (status watchers re-read the status).
	onWaiting func()
}

// waitWarnEvery is how often a waiting episode is logged again at WARN
// while writes keep waiting for a standby.
const waitWarnEvery = 10 * time.Second

func newSyncSet(self string, k int, policy string, timeout, degradeAfter time.Duration,
	sender syncPeers, eng *engine.Engine, log *slog.Logger,
	put func(ctx context.Context, epoch uint64, nodes []string) error) *syncSet {
	return &syncSet{self: self, k: k, policy: policy, timeout: timeout, degradeAfter: degradeAfter,
		sender: sender, eng: eng, put: put, log: log,
		joining: map[string]struct{}{}, uncertain: map[string]struct{}{}, changed: make(chan struct{})}
}

func (s *syncSet) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// activate starts keeping S at epoch (called before writes open). Calling
// it again at the same epoch (writes reopened after a fence) keeps S.
func (s *syncSet) activate(epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == epoch && s.stop != nil {
		return
	}
	if s.stop != nil {
		s.stop()
	}
	if s.epoch != epoch {
		s.written, s.members, s.degraded, s.commit = false, nil, false, 0
		s.joining = map[string]struct{}{}
		s.uncertain = map[string]struct{}{}
	}
	s.epoch = epoch
	s.gen++
	if s.written {
		s.eng.SetReadLimit(true, s.commit) // writes reopened at the same epoch
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.notifyLocked()
	done, gen := make(chan struct{}), s.gen
	s.done = done
	if !s.bg.Go(func() {
		defer close(done)
		s.manage(ctx, epoch, gen)
	}) {
		close(done)
	}
}

// wait stops the sync set for good (a later activate starts nothing) and
// waits for its manager goroutine; call it after deactivate (shutdown).
func (s *syncSet) wait() { s.bg.StopAndWait() }

// deactivate stops keeping S; acknowledgements still waiting fail.
func (s *syncSet) deactivate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	s.epoch = 0
	s.gen++
	s.eng.SetReadLimit(false, 0)
	s.notifyLocked()
	if s.checkWaitLocked(time.Now()) && s.onWaiting != nil {
		go s.onWaiting()
	}
}

// serving reports whether client requests may be served: this node keeps
// S at its epoch and S is written (reads are then capped by the commit
// LSN).
func (s *syncSet) serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch != 0 && s.written
}

// advanceCommit raises the commit LSN (and the engine's read limit) to
// lsn. Requires s.mu.
func (s *syncSet) advanceCommitLocked(lsn uint64) {
	if lsn > s.commit {
		s.commit = lsn
		s.eng.AdvanceReadLimit(lsn)
	}
}

// errNotActive fails an acknowledgement once this node stopped leading.
var errNotActive = errors.New("this node is no longer the active")

// ack is the engine's AckHook in sync mode: it returns once the write at
// lsn may be acknowledged, or fails when ctx (the request's) ends or this
// node stops being the active.
func (s *syncSet) ack(ctx context.Context, lsn uint64) error {
	counted := false // this write is counted in s.waiting
	defer func() {
		if counted {
			s.mu.Lock()
			s.waiting--
			syncWaitingWrites.WithLabelValues(s.self).Set(float64(s.waiting))
			s.mu.Unlock()
		}
	}()
	for {
		s.mu.Lock()
		ch, epoch, written := s.changed, s.epoch, s.written
		req := s.waitedLocked()
		short := len(s.members) < s.k
		degraded := s.degraded
		// Count the write in s.waiting while it is held back for want of
		// standbys in S (not while it waits for their fsync).
		started := false
		switch blocked := epoch != 0 && written && short && !degraded; {
		case blocked && !counted:
			counted, started = true, s.startWaitLocked(time.Now())
		case !blocked && counted:
			counted = false
			s.waiting--
			syncWaitingWrites.WithLabelValues(s.self).Set(float64(s.waiting))
		}
		s.mu.Unlock()
		if started && s.onWaiting != nil {
			s.onWaiting()
		}
		if epoch == 0 {
			return errNotActive
		}
		if !written || (short && !degraded) {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				if !written {
					return fmt.Errorf("the sync set is not written yet at epoch %d: %w", epoch, ctx.Err())
				}
				return fmt.Errorf("%d standby(s) in the sync set, %d required (policy %s): %w", len(req), s.k, s.policy, ctx.Err())
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-ch:
				cancel()
			case <-wctx.Done():
			}
		}()
		var err error
		for _, id := range req {
			if err = s.sender.WaitDurable(wctx, id, lsn); err != nil {
				break
			}
		}
		cancel()
		if err == nil {
			s.mu.Lock()
			if s.epoch == epoch && s.written {
				s.advanceCommitLocked(lsn) // every standby of S has lsn durable
			}
			s.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sync set %v: %w", req, err)
		}
		// S changed while waiting: decide again.
	}
}

// startWaitLocked counts one more write held back for want of standbys
// in S at now, starting a waiting episode (logged at WARN) if none is
// running; it reports whether it started one. Requires s.mu.
func (s *syncSet) startWaitLocked(now time.Time) bool {
	s.waiting++
	s.waitedTotal++
	syncWaitingWrites.WithLabelValues(s.self).Set(float64(s.waiting))
	if !s.waitSince.IsZero() {
		return false
	}
	s.waitSince, s.lastWaitWarn = now, now
	s.log.Warn("sync set: client writes are WAITING for a standby: too few standbys in the sync set; they are acknowledged once enough standbys are back in sync (or fail at their deadline)",
		"standbys", len(s.members), "required", s.k, "policy", s.policy, "waiting_writes", s.waiting, "since", s.waitSince)
	return true
}

// checkWaitLocked ends the waiting episode once writes need not wait for
// standbys any more (S has k standbys again, writes are acknowledged in
// degraded mode, or this node stopped leading), or logs it again at WARN
// every waitWarnEvery while writes wait. It reports whether it ended the
// episode. Requires s.mu.
func (s *syncSet) checkWaitLocked(now time.Time) bool {
	if s.waitSince.IsZero() {
		return false
	}
	if s.epoch == 0 || len(s.members) >= s.k || s.degraded {
		why := "enough standbys are in the sync set"
		switch {
		case s.epoch == 0:
			why = "this node is no longer the active"
		case s.degraded:
			why = "writes are acknowledged without standbys (degraded)"
		}
		s.log.Info("sync set: client writes no longer wait for a standby: "+why,
			"standbys", len(s.members), "required", s.k, "policy", s.policy,
			"waited_writes", s.waitedTotal, "waited_for", now.Sub(s.waitSince).Round(time.Millisecond))
		s.waitSince, s.lastWaitWarn, s.waitedTotal = time.Time{}, time.Time{}, 0
		return true
	}
	if s.waiting > 0 && now.Sub(s.lastWaitWarn) >= waitWarnEvery {
		s.lastWaitWarn = now
		s.log.Warn("sync set: client writes still WAITING for a standby",
			"standbys", len(s.members), "required", s.k, "policy", s.policy, "waiting_writes", s.waiting,
			"since", s.waitSince, "for", now.Sub(s.waitSince).Round(time.Second))
	}
	return false
}

// waitingSince returns when the current waiting episode began (writes
// held back for want of standbys in S); zero when none is running.
func (s *syncSet) waitingSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitSince
}

// waitedLocked returns the standbys acknowledgements wait for: members ∪
// uncertain ∪ joining, sorted. Requires s.mu.
func (s *syncSet) waitedLocked() []string {
	req := slices.Clone(s.members)
	for id := range s.uncertain {
		req = append(req, id)
	}
	for id := range s.joining {
		req = append(req, id)
	}
	slices.Sort(req)
	return slices.Compact(req)
}

// lagMark tracks whether a standby of S keeps up: it must reach lsn
// (this node's last LSN at time at) within the timeout.
type lagMark struct {
	lsn uint64
	at  time.Time
}

// Pacing of the manager: it steps every manageTick; after a failed write
// of S it waits a backoff instead, doubling from 2 × manageTick up to
// manageMaxBackoff, each wait drawn uniformly from [d/2, d] (jitter, from
// a source seeded by the node id and epoch), and back to manageTick after
// a step without a failed write.
const (
	manageTick       = 5 * time.Millisecond
	manageMaxBackoff = 500 * time.Millisecond
)

// retryDelay returns the wait after the n-th failed step in a row (n >= 1).
func retryDelay(n int, rng *rand.Rand) time.Duration {
	d := manageMaxBackoff
	if n < 16 {
		d = min(manageTick<<n, manageMaxBackoff)
	}
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

// manage writes S at epoch and then adjusts it (joins, drops, degrade)
// every tick until ctx ends; gen is its activation (see syncSet.gen).
func (s *syncSet) manage(ctx context.Context, epoch, gen uint64) {
	h := fnv.New64a()
	h.Write([]byte(s.self))
	rng := rand.New(rand.NewPCG(h.Sum64(), epoch))
	t := time.NewTimer(manageTick)
	defer t.Stop()
	marks := map[string]lagMark{}
	joinStart := map[string]lagMark{}
	failedJoin := map[string]time.Time{}
	var shortSince time.Time
	fails := 0
	for {
		wait := manageTick
		if err := s.step(ctx, epoch, gen, marks, joinStart, failedJoin, &shortSince); err != nil {
			fails++
			wait = retryDelay(fails, rng)
		} else {
			fails = 0
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// durable returns the durable LSN standby id acknowledged (0 if not
// connected at this epoch).
func (s *syncSet) durable(id string) (uint64, bool) {
	p, ok := s.sender.Peer(id)
	if !ok {
		return 0, false
	}
	return p.DurableLSN, true
}

// write puts {self} ∪ members at epoch, bounded.
func (s *syncSet) write(ctx context.Context, epoch uint64, members []string) error {
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return s.put(wctx, epoch, append([]string{s.self}, members...))
}

// errReplaced: the manager that wrote was replaced by a newer activation
// before it could record the outcome.
var errReplaced = errors.New("node: sync set manager replaced by a newer activation")

// writeSet writes S = {self} ∪ next at epoch for the manager of
// activation gen and records the outcome. Success: S is next (members =
// next, uncertain emptied, the standbys of next leave joining). Failure:
// the outcome is unknown (a timed-out transaction may have committed), so
// every standby of next that members lacks becomes uncertain:
// acknowledgements wait for it until a later write succeeds. A write
// whose manager was replaced is recorded as unknown too (the new
// activation may keep this epoch's state).
func (s *syncSet) writeSet(ctx context.Context, epoch, gen uint64, next []string) error {
	err := s.write(ctx, epoch, next)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		if s.epoch == epoch {
			s.markUncertainLocked(next)
		}
		if err == nil {
			err = errReplaced
		}
		return err
	}
	if err != nil {
		s.markUncertainLocked(next)
		return err
	}
	s.members = next
	clear(s.uncertain)
	for _, id := range next {
		delete(s.joining, id)
	}
	s.notifyLocked()
	return nil
}

// markUncertainLocked adds the standbys of next that members lacks to
// uncertain. Requires s.mu.
func (s *syncSet) markUncertainLocked(next []string) {
	added := false
	for _, id := range next {
		if _, ok := s.uncertain[id]; !ok && !slices.Contains(s.members, id) {
			s.uncertain[id] = struct{}{}
			added = true
		}
	}
	if added {
		s.notifyLocked()
		syncSetChanges.WithLabelValues(s.self, "uncertain").Inc()
	}
}

// joinMaxLag is how far behind this node's last LSN a connected standby
// may be when it starts joining S: acknowledgements wait for it from
// then on, so it must be nearly caught up.
const joinMaxLag = 1024

// step runs one round of the manager of activation gen: the first write
// of S, then at most one change of S (settle, drop or join), then the
// commit LSN and the degrade policy. It returns the error of a write of S
// that failed (the manager then backs off), else nil.
func (s *syncSet) step(ctx context.Context, epoch, gen uint64, marks, joinStart map[string]lagMark,
	failedJoin map[string]time.Time, shortSince *time.Time) error {
	now := time.Now()
	s.mu.Lock()
	if s.gen != gen {
		s.mu.Unlock()
		return nil // replaced; its ctx is cancelled
	}
	written, members := s.written, slices.Clone(s.members)
	uncertain := make([]string, 0, len(s.uncertain))
	for id := range s.uncertain {
		uncertain = append(uncertain, id)
	}
	joiningSet := maps.Clone(s.joining)
	s.mu.Unlock()
	slices.Sort(uncertain)
	last := s.eng.LastLSN()
	failed := func(what string, err error, args ...any) error {
		if ctx.Err() == nil && !errors.Is(err, errReplaced) {
			s.log.Warn("sync set: "+what+" failed", append(args, "epoch", epoch, "err", err)...)
		}
		return err
	}

	if !written {
		// Nothing is acknowledged at epoch yet: every connected standby
		// already holding all this node has may be listed at once.
		var in []string
		for _, p := range s.sender.Peers() {
			if p.DurableLSN >= last && p.NodeID != s.self {
				in = append(in, p.NodeID)
			}
		}
		slices.Sort(in)
		if err := s.writeSet(ctx, epoch, gen, in); err != nil {
			return failed("write", err)
		}
		s.mu.Lock()
		ok := s.gen == gen
		if ok {
			s.written, s.commit = true, last
			s.eng.SetReadLimit(true, last) // S holds everything up to last
			s.notifyLocked()
		}
		s.mu.Unlock()
		if !ok {
			return nil
		}
		if s.onServing != nil {
			s.onServing()
		}
		for _, id := range in {
			marks[id] = lagMark{lsn: last, at: now}
		}
		s.log.Info("sync set written", "epoch", epoch, "standbys", in)
		return nil
	}

	// Settle: a write of S failed, so the arbiter may list standbys that
	// members lacks. Write S again before anything else: members plus the
	// uncertain standbys whose join can complete now. Until it succeeds,
	// acknowledgements wait for every uncertain standby.
	if len(uncertain) > 0 {
		next := slices.Clone(members)
		var joined []string
		for _, id := range uncertain {
			if _, j := joiningSet[id]; !j {
				continue
			}
			d, ok := s.durable(id)
			switch js := joinStart[id]; {
			case ok && d >= js.lsn:
				next = append(next, id)
				joined = append(joined, id)
			case !ok || now.Sub(js.at) >= s.timeout:
				// Give the join up; id stays uncertain (waited for)
				// until the write below succeeds.
				failedJoin[id] = now
				delete(joinStart, id)
				s.mu.Lock()
				if s.gen == gen {
					delete(s.joining, id)
					s.notifyLocked()
				}
				s.mu.Unlock()
			}
		}
		slices.Sort(next)
		if err := s.writeSet(ctx, epoch, gen, next); err != nil {
			return failed("settling write", err, "standbys", next, "uncertain", uncertain)
		}
		for _, id := range joined {
			delete(joinStart, id)
			marks[id] = lagMark{lsn: last, at: now}
			syncSetChanges.WithLabelValues(s.self, "join").Inc()
		}
		s.log.Info("sync set settled after a failed write", "epoch", epoch, "standbys", next, "were_uncertain", uncertain)
		return nil
	}

	// Drops: a member that has not reached its mark within the timeout
	// (disconnected, stalled or too slow) leaves S — in the arbiter first.
	for _, id := range members {
		d, _ := s.durable(id)
		m, ok := marks[id]
		if !ok || d >= m.lsn {
			marks[id] = lagMark{lsn: last, at: now}
			continue
		}
		if now.Sub(m.at) < s.timeout {
			continue
		}
		rest := slices.DeleteFunc(slices.Clone(members), func(x string) bool { return x == id })
		if err := s.writeSet(ctx, epoch, gen, rest); err != nil {
			// S is members or rest: acknowledgements still wait for id.
			return failed("drop", err, "standby", id)
		}
		delete(marks, id)
		syncSetChanges.WithLabelValues(s.self, "drop").Inc()
		s.log.Warn("sync set: standby dropped", "standby", id, "durable_lsn", d, "needed", m.lsn,
			"lagging_for", now.Sub(m.at).Round(time.Millisecond), "epoch", epoch, "standbys", rest)
		return nil
	}

	// Joins: a connected standby not in S that holds everything is first
	// added to the standbys acknowledgements wait for, then — once it has
	// this node's last LSN as read after that — written into S. A join
	// write that fails leaves the standby uncertain (settled above).
	joining := slices.Sorted(maps.Keys(joiningSet))
	for _, id := range joining {
		d, ok := s.durable(id)
		js := joinStart[id]
		switch {
		case ok && d >= js.lsn:
			next := append(slices.Clone(members), id)
			slices.Sort(next)
			if err := s.writeSet(ctx, epoch, gen, next); err != nil {
				return failed("join", err, "standby", id)
			}
			delete(joinStart, id)
			marks[id] = lagMark{lsn: last, at: now}
			syncSetChanges.WithLabelValues(s.self, "join").Inc()
			s.log.Info("sync set: standby joined", "standby", id, "durable_lsn", d, "epoch", epoch, "standbys", next)
			return nil
		case !ok || now.Sub(js.at) >= s.timeout:
			// Not in S (nor uncertain: no write proposing it failed since
			// the last success): giving up the join only relaxes
			// acknowledgements.
			failedJoin[id] = now
			s.mu.Lock()
			if s.gen == gen {
				delete(s.joining, id)
				s.notifyLocked()
			}
			s.mu.Unlock()
			delete(joinStart, id)
		}
	}
	if len(joining) == 0 {
		for _, p := range s.sender.Peers() {
			id := p.NodeID
			if id == s.self || slices.Contains(members, id) || last-min(last, p.DurableLSN) > joinMaxLag ||
				!failedJoin[id].IsZero() && now.Sub(failedJoin[id]) < s.timeout {
				continue
			}
			s.mu.Lock()
			if s.gen != gen {
				s.mu.Unlock()
				return nil
			}
			s.joining[id] = struct{}{}
			s.notifyLocked()
			s.mu.Unlock()
			// Read after the join is registered: every write acknowledged
			// without waiting for p has an LSN <= this.
			joinStart[id] = lagMark{lsn: max(s.eng.LastLSN(), s.eng.DurableLSN()), at: now}
			break
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return nil
	}
	// Commit LSN: what every standby S may list has durable (all local
	// while S lists none).
	c := s.eng.DurableLSN()
	for _, id := range s.members {
		d, _ := s.durable(id)
		c = min(c, d)
	}
	for id := range s.uncertain {
		d, _ := s.durable(id)
		c = min(c, d)
	}
	s.advanceCommitLocked(c)
	// Degrade: too few standbys in S for longer than DegradeAfter.
	short := len(s.members) < s.k
	switch {
	case !short:
		*shortSince = time.Time{}
		if s.degraded {
			s.degraded = false
			s.notifyLocked()
			syncDegraded.WithLabelValues(s.self).Set(0)
			s.log.Info("sync set: enough standbys again; writes are synchronous", "standbys", s.members, "required", s.k)
		}
	case shortSince.IsZero():
		*shortSince = now
	case s.policy == SyncDegrade && !s.degraded && now.Sub(*shortSince) >= s.degradeAfter:
		s.degraded = true
		s.notifyLocked()
		syncDegraded.WithLabelValues(s.self).Set(1)
		s.log.Warn("sync set: DEGRADED to asynchronous acknowledgement: too few standbys in sync; no automatic promotion is possible until one is back",
			"standbys", s.members, "required", s.k, "after", s.degradeAfter)
	}
	if s.checkWaitLocked(now) && s.onWaiting != nil {
		go s.onWaiting()
	}
	return nil
}

// SyncStatus is the sync-set part of the replication status (sync mode).
type SyncStatus struct {
	Policy   string   `json:"policy"`
	Epoch    uint64   `json:"epoch,omitempty"`
	Written  bool     `json:"written"`
	Standbys []string `json:"standbys"`
	Joining  []string `json:"joining,omitempty"`
	// Uncertain lists standbys the arbiter's S may hold although Standbys
	// does not (a write of S failed with an unknown outcome): writes wait
	// for them too until a write of S succeeds.
	Uncertain []string `json:"uncertain,omitempty"`
	Degraded  bool     `json:"degraded"`
	// CommitLSN caps what reads see: every standby of S has it durable.
	CommitLSN uint64 `json:"commit_lsn"`
	// WaitingWrites counts the client writes held back right now because
	// S lists fewer than min_sync_standbys standbys.
	WaitingWrites int `json:"waiting_writes"`
	// WaitingSince is when writes started waiting for a standby (the
	// current episode, which lasts until S has enough standbys again);
	// null when none wait.
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
}

func (s *syncSet) status() *SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

// statusLocked is status. Requires s.mu.
func (s *syncSet) statusLocked() *SyncStatus {
	st := &SyncStatus{Policy: s.policy, Epoch: s.epoch, Written: s.written, Standbys: slices.Clone(s.members), Degraded: s.degraded,
		CommitLSN: s.commit, WaitingWrites: s.waiting}
	if !s.waitSince.IsZero() {
		t := s.waitSince
		st.WaitingSince = &t
	}
	if st.Standbys == nil {
		st.Standbys = []string{}
	}
	for id := range s.joining {
		st.Joining = append(st.Joining, id)
	}
	slices.Sort(st.Joining)
	for id := range s.uncertain {
		st.Uncertain = append(st.Uncertain, id)
	}
	slices.Sort(st.Uncertain)
	return st
}

// putSyncSet is syncSet.put for a node: the write goes through the
// node's current session and is guarded by its leader key.
func (n *Node) putSyncSet(ctx context.Context, epoch uint64, nodes []string) error {
	s, g := n.sess.Load(), n.group.Load()
	if s == nil || g == nil {
		return fmt.Errorf("node: write sync set: no arbiter session: %w", arbiter.ErrNotLeader)
	}
	return putSyncSet(ctx, g, s, epoch, n.qualifySelf(nodes))
}

// putSyncSet writes the sync set through g on session s.
//
// Failpoint "syncset/put-after-commit": evaluated after a successful
// write; armed with error, the write is committed but the caller gets an
// error (an ambiguous outcome, like a timeout after the commit).
func putSyncSet(ctx context.Context, g *arbiter.Group, s *arbiter.Session, epoch uint64, nodes []string) error {
	if err := g.PutSyncSet(ctx, s, epoch, nodes); err != nil {
		return err
	}
	if err := failpoint.Inject("syncset/put-after-commit"); err != nil {
		return fmt.Errorf("node: write sync set: %w", err)
	}
	return nil
}
