package ha

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// gateModel mirrors what the loop's write gate would be told, and checks
// the safety properties after every step.
type gateModel struct {
	open      bool
	epoch     uint64
	until     time.Time
	lastEpoch uint64 // highest epoch writes were ever opened at
}

// TestRandomEventsSafety feeds seeded random (and adversarial) event
// sequences and checks, after every step:
//   - OpenWrites only with a deadline in the future that a grant or renewal
//     of the machine's current lease proves (SentAt + TTL - FenceMargin);
//   - ExtendWrites only while open, only later, only proven;
//   - CloseWrites, when present, is the first action;
//   - writes are never open at or past the deadline after a Tick, and only
//     while Active at the opened epoch;
//   - the machine's epoch and the epochs writes open at never decrease.
func TestRandomEventsSafety(t *testing.T) {
	opens, fences := 0, 0
	for seed := uint64(1); seed <= 300; seed++ {
		o, f := runRandom(t, seed, 400, -1)
		opens, fences = opens+o, fences+f
	}
	// The schedule must actually exercise the paths it checks.
	if opens < 100 || fences < 20 {
		t.Fatalf("only %d OpenWrites and %d fences over all seeds", opens, fences)
	}
	t.Logf("%d OpenWrites, %d fences", opens, fences)
}

// runRandom feeds n events of seed's schedule; at event failAt (>= 0)
// the engine fails (EngineFailed), after which no Campaign, Promote,
// Follow or OpenWrites may come and the role must stay Broken (or
// Stopped).
func runRandom(t *testing.T, seed uint64, n, failAt int) (opens, fences int) {
	rng := rand.New(rand.NewPCG(seed, 0x7a4d))
	cfg := testConfig("n1")
	m := New(cfg, Self{Addr: "a1", PeerAddr: "p1", Position: Position{Epoch: uint64(rng.IntN(3)), LSN: 5}})
	var (
		now        = t0
		proven     = map[int64]time.Time{} // lease -> latest proven deadline
		leases     []int64
		nextLease  = int64(100)
		arbEpoch   = uint64(rng.IntN(3))
		rev        = int64(10)
		g          gateModel
		lastEpoch  uint64
		history    []Event
		curLease   = func() int64 { return m.Status().LeaseID }
		pickLease  func() int64
		peerIDs    = []string{"n0", "n2", "n3"}
		randomPeer = func() LeaderInfo {
			id := peerIDs[rng.IntN(len(peerIDs))]
			return LeaderInfo{NodeID: id, Addr: "a-" + id, Epoch: uint64(rng.IntN(int(arbEpoch) + 2)), LeaseID: int64(900 + rng.IntN(3))}
		}
	)
	pickLease = func() int64 {
		if len(leases) == 0 || rng.IntN(5) == 0 {
			return int64(50 + rng.IntN(3)) // a lease never granted to us
		}
		if rng.IntN(3) > 0 {
			return leases[len(leases)-1]
		}
		return leases[rng.IntN(len(leases))]
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d after %d events (last %T%+v): "+format, append([]any{seed, len(history), history[len(history)-1], history[len(history)-1]}, args...)...)
	}
	randomEvent := func() Event {
		var ev Event
		switch k := rng.IntN(100); {
		case k < 30:
			now = now.Add(time.Duration(rng.IntN(700)) * time.Millisecond)
			ev = Tick{now}
		case k < 45:
			sent := now.Add(-time.Duration(rng.IntN(2500)) * time.Millisecond)
			l := pickLease()
			ev = Renewed{l, sent}
		case k < 50:
			nextLease++
			leases = append(leases, nextLease)
			ev = SessionUp{nextLease, now.Add(-time.Duration(rng.IntN(300)) * time.Millisecond)}
		case k < 54:
			ev = SessionLost{pickLease()}
		case k < 64:
			rev += int64(rng.IntN(3)) - 1
			var l LeaderInfo
			if rng.IntN(3) == 0 {
				l = LeaderInfo{NodeID: "n1", Addr: "a1", Epoch: arbEpoch, LeaseID: pickLease()}
			} else {
				l = randomPeer()
			}
			ev = LeaderObserved{l, rev * int64(rng.IntN(2))}
		case k < 71:
			rev += int64(rng.IntN(3)) - 1
			ev = LeaderGone{rev * int64(rng.IntN(2))}
		case k < 76:
			var ms []Member
			for _, id := range append([]string{"n1"}, peerIDs...) {
				if rng.IntN(2) == 0 {
					ms = append(ms, Member{NodeID: id, Position: Position{uint64(rng.IntN(4)), uint64(rng.IntN(10))}, Eligible: rng.IntN(4) > 0})
				}
			}
			rev++
			ev = MembersObserved{ms, rev}
		case k < 84:
			switch rng.IntN(3) {
			case 0:
				arbEpoch++
				rev++
				ev = CampaignResult{Won: true, Epoch: arbEpoch, Rev: rev * int64(rng.IntN(2))}
			case 1:
				ev = CampaignResult{Won: false}
			default:
				ev = CampaignResult{Err: errors.New("x")}
			}
		case k < 90:
			var err error
			if rng.IntN(10) == 0 {
				err = errors.New("disk")
			}
			e := m.Status().ActiveEpoch
			if rng.IntN(4) == 0 {
				e = uint64(rng.IntN(int(arbEpoch) + 2))
			}
			ev = Promoted{Epoch: e, LSN: uint64(rng.IntN(100)), Err: err}
		case k < 93:
			ev = ArbiterUnreachable{}
		case k < 96:
			ev = ArbiterReachable{}
		case k < 99:
			ev = LocalPosition{Position{uint64(rng.IntN(int(arbEpoch) + 1)), uint64(rng.IntN(100))}}
		default:
			if rng.IntN(5) == 0 {
				ev = Stop{}
			} else {
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				ev = Tick{now}
			}
		}
		return ev
	}
	var pending []Event // replies to actions, delivered first (mostly)
	failed := false
	for i := range n {
		var ev Event
		switch {
		case i == failAt:
			ev, failed = EngineFailed{Cause: "disk full"}, true
		case len(pending) > 0 && rng.IntN(4) > 0:
			ev, pending = pending[0], pending[1:]
		default:
			ev = randomEvent()
		}
		history = append(history, ev)
		// The proof a grant or renewal gives, as the arbiter would honour it.
		switch ev := ev.(type) {
		case SessionUp:
			proven[ev.LeaseID] = cfg.Deadline(ev.SentAt)
		case Renewed:
			if d := cfg.Deadline(ev.SentAt); d.After(proven[ev.LeaseID]) && containsLease(leases, ev.LeaseID) {
				proven[ev.LeaseID] = d
			}
		}
		acts := m.Step(ev)
		if failed {
			if r := m.Role(); r != Broken && r != Stopped {
				fail("role %v after the engine failed", r)
			}
			for _, a := range acts {
				switch a.(type) {
				case Campaign, Promote, Follow, OpenWrites, ExtendWrites:
					fail("%T after the engine failed: %s", a, fmtActions(acts))
				}
			}
		}
		for i, a := range acts {
			switch a := a.(type) {
			case Campaign:
				if rng.IntN(3) > 0 {
					arbEpoch++
					rev++
					pending = append(pending, CampaignResult{Won: true, Epoch: arbEpoch, Rev: rev})
				}
			case Promote:
				pending = append(pending, Promoted{Epoch: a.Epoch, LSN: uint64(rng.IntN(100))})
			case CloseWrites:
				if i != 0 {
					fail("CloseWrites at index %d of %s", i, fmtActions(acts))
				}
				g.open = false
			case OpenWrites:
				if g.open {
					fail("OpenWrites while open")
				}
				if !a.Until.After(now) {
					fail("OpenWrites until %v not after now %v", a.Until, now)
				}
				if p := proven[curLease()]; a.Until.After(p) {
					fail("OpenWrites until %v beyond the proven deadline %v of lease %d", a.Until, p, curLease())
				}
				if a.Epoch < g.lastEpoch {
					fail("OpenWrites at epoch %d after %d", a.Epoch, g.lastEpoch)
				}
				g.open, g.epoch, g.until, g.lastEpoch = true, a.Epoch, a.Until, a.Epoch
				opens++
			case PublishStatus:
				if a.Role == Fenced {
					fences++
				}
			case ExtendWrites:
				if !g.open || !a.Until.After(g.until) || !a.Until.After(now) {
					fail("ExtendWrites %v: open %v until %v now %v", a.Until, g.open, g.until, now)
				}
				if p := proven[curLease()]; a.Until.After(p) {
					fail("ExtendWrites until %v beyond the proven deadline %v", a.Until, p)
				}
				g.until = a.Until
			}
		}
		if g.open {
			st := m.Status()
			if m.Role() != Active || st.ActiveEpoch != g.epoch || !st.WritesOpen {
				fail("writes open at epoch %d but role %v active epoch %d", g.epoch, m.Role(), st.ActiveEpoch)
			}
			if _, isTick := ev.(Tick); isTick && !now.Before(g.until) {
				fail("writes open at %v, past the deadline %v", now, g.until)
			}
		}
		if m.Epoch() < lastEpoch {
			fail("epoch went from %d to %d", lastEpoch, m.Epoch())
		}
		lastEpoch = m.Epoch()
		if m.Role() == Stopped {
			if g.open {
				fail("stopped with writes open")
			}
			return opens, fences
		}
	}
	return opens, fences
}

func containsLease(ls []int64, l int64) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// TestRandomEventsEngineFailure: the same random schedules with the engine
// failing at a seeded random point: from then on the node is Broken (or
// Stopped), never campaigns, promotes, follows or opens writes, and the
// safety properties of TestRandomEventsSafety still hold.
func TestRandomEventsEngineFailure(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		failAt := rand.New(rand.NewPCG(seed, 8)).IntN(400)
		runRandom(t, seed, 400, failAt)
	}
}

// TestRandomEventsReachActive checks liveness on a friendly random
// schedule: with renewals flowing and campaigns answered, a lone node ends
// up Active with writes open.
func TestRandomEventsReachActive(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		m := New(testConfig("n1"), Self{})
		now := t0
		m.Step(Tick{now})
		m.Step(SessionUp{lease1, now})
		epoch := uint64(0)
		var handle func([]Action)
		handle = func(as []Action) {
			for _, a := range as {
				switch a := a.(type) {
				case Campaign:
					epoch++
					handle(m.Step(CampaignResult{Won: true, Epoch: epoch, Rev: int64(10 + epoch)}))
				case Promote:
					handle(m.Step(Promoted{Epoch: a.Epoch, LSN: 1}))
				}
			}
		}
		handle(m.Step(LeaderGone{1}))
		for i := 0; i < 100 && !m.Status().WritesOpen; i++ {
			now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
			handle(m.Step(Tick{now}))
			handle(m.Step(Renewed{lease1, now}))
		}
		if !m.Status().WritesOpen {
			t.Fatalf("seed %d: not active: %+v", seed, m.Status())
		}
	}
}
