package arbiter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// campaignRounds has n sessions campaign concurrently, rounds times. In each
// round exactly one must win, with an epoch and a leader-key create revision
// above every earlier one; the winner then closes its session (revoking its
// lease) and the others campaign again.
func campaignRounds(t *testing.T, c *Client, group string, n, rounds int) {
	t.Helper()
	g := c.Group(group)
	sessions := make([]*Session, n)
	for i := range sessions {
		sessions[i] = newSession(t, g, 5*time.Second)
	}
	alive := make([]int, n)
	for i := range alive {
		alive[i] = i
	}
	var lastEpoch uint64
	var lastRev int64
	for round := range rounds {
		type result struct {
			i     int
			won   bool
			epoch uint64
			err   error
		}
		results := make([]result, len(alive))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k, i := range alive {
			wg.Go(func() {
				<-start
				me := Leader{NodeID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("10.0.0.%d:19530", i)}
				won, epoch, err := g.Campaign(ctxT(t), sessions[i], me, Candidate{})
				results[k] = result{i, won, epoch, err}
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for _, r := range results {
			if r.err != nil {
				t.Fatalf("round %d: n%d: Campaign: %v", round, r.i, r.err)
			}
			if r.won {
				if winner >= 0 {
					t.Fatalf("round %d: n%d and n%d both won", round, winner, r.i)
				}
				winner = r.i
				if r.epoch <= lastEpoch {
					t.Fatalf("round %d: epoch %d not above previous %d", round, r.epoch, lastEpoch)
				}
				lastEpoch = r.epoch
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		l, _, err := g.Leader(ctxT(t))
		if err != nil || l == nil {
			t.Fatalf("round %d: Leader() = %v, %v", round, l, err)
		}
		if l.NodeID != fmt.Sprintf("n%d", winner) || l.Epoch != lastEpoch || l.LeaseID != sessions[winner].LeaseID() {
			t.Fatalf("round %d: leader key %+v, want n%d at epoch %d on lease %x", round, l, winner, lastEpoch, sessions[winner].LeaseID())
		}
		if l.CreateRev <= lastRev {
			t.Fatalf("round %d: leader create revision %d not above previous %d", round, l.CreateRev, lastRev)
		}
		lastRev = l.CreateRev
		if e, err := g.Epoch(ctxT(t)); err != nil || e != lastEpoch {
			t.Fatalf("round %d: Epoch() = %d, %v; want %d", round, e, err, lastEpoch)
		}
		for _, i := range alive {
			ok, err := g.IsLeader(ctxT(t), sessions[i], lastEpoch)
			if err != nil || ok != (i == winner) {
				t.Fatalf("round %d: IsLeader(n%d) = %v, %v", round, i, ok, err)
			}
		}
		if err := sessions[winner].Close(ctxT(t)); err != nil {
			t.Fatalf("round %d: close winner: %v", round, err)
		}
		if l, _, err := g.Leader(ctxT(t)); err != nil || l != nil {
			t.Fatalf("round %d: after revoke Leader() = %+v, %v; want none", round, l, err)
		}
		alive = slices.DeleteFunc(alive, func(i int) bool { return i == winner })
	}
}

func TestCampaignRace(t *testing.T) {
	campaignRounds(t, sharedClient(t), groupName(t), 6, 5)
}

// TestCampaignEpochsUnique churns: goroutines campaign and resign at once,
// over and over. Every epoch won must be distinct, and together they must
// be exactly 1..wins: each win bumps the epoch by one, none is reused.
func TestCampaignEpochsUnique(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	const workers, perWorker = 4, 15
	var mu sync.Mutex
	var epochs []uint64
	var wg sync.WaitGroup
	for w := range workers {
		s := newSession(t, g, 5*time.Second)
		wg.Go(func() {
			for range perWorker {
				won, epoch, err := g.Campaign(ctxT(t), s, Leader{NodeID: fmt.Sprintf("w%d", w)}, Candidate{})
				if errors.Is(err, ErrContention) {
					continue
				}
				if err != nil {
					t.Errorf("w%d: Campaign: %v", w, err)
					return
				}
				if !won {
					continue
				}
				mu.Lock()
				epochs = append(epochs, epoch)
				mu.Unlock()
				if err := g.Resign(ctxT(t), s); err != nil {
					t.Errorf("w%d: Resign: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(epochs)
	for i, e := range epochs {
		if e != uint64(i+1) {
			t.Fatalf("epochs won %v: want exactly 1..%d", epochs, len(epochs))
		}
	}
	if len(epochs) == 0 {
		t.Fatal("nobody ever won")
	}
	if e, _ := g.Epoch(ctxT(t)); e != uint64(len(epochs)) {
		t.Fatalf("stored epoch %d, want %d", e, len(epochs))
	}
	t.Logf("%d elections", len(epochs))
}

func TestCampaignIdempotentAndResign(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a, b := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second)
	won, e1, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{})
	if err != nil || !won || e1 != 1 {
		t.Fatalf("first campaign = %v, %d, %v", won, e1, err)
	}
	// A retry by the holder (e.g. after an ambiguous timeout) reports the
	// same win without a new epoch.
	if won, e, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{}); err != nil || !won || e != e1 {
		t.Fatalf("repeat campaign = %v, %d, %v; want true, %d", won, e, err, e1)
	}
	if won, e, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{}); err != nil || won || e != 0 {
		t.Fatalf("b's campaign = %v, %d, %v; want lost", won, e, err)
	}
	// b's resign is a no-op; a's deletes the key but keeps a's session.
	if err := g.Resign(ctxT(t), b); err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.IsLeader(ctxT(t), a, e1); !ok {
		t.Fatal("b's Resign removed a's leader key")
	}
	if err := g.Resign(ctxT(t), a); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := g.Leader(ctxT(t)); l != nil {
		t.Fatalf("leader after resign: %+v", l)
	}
	if err := a.KeepAliveOnce(ctxT(t)); err != nil {
		t.Fatalf("a's lease after resign: %v", err)
	}
	if won, e, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{}); err != nil || !won || e != e1+1 {
		t.Fatalf("b's second campaign = %v, %d, %v; want true, %d", won, e, err, e1+1)
	}
	if ok, _ := g.IsLeader(ctxT(t), b, e1); ok {
		t.Fatal("IsLeader true at a stale epoch")
	}
}

func TestSessionCloseDeletesKeys(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	s := newSession(t, g, 10*time.Second)
	if err := g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a", Role: "active"}); err != nil {
		t.Fatal(err)
	}
	if won, _, err := g.Campaign(ctxT(t), s, Leader{NodeID: "a"}, Candidate{}); !won || err != nil {
		t.Fatalf("campaign: %v %v", won, err)
	}
	_, rev, _ := g.Leader(ctxT(t))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ch := g.Watch(ctx, rev)
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Both keys go in the revoke's one revision.
	ev1, ev2 := next(t, ch), next(t, ch)
	kinds := []EventKind{ev1.Kind, ev2.Kind}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []EventKind{EventLeaderDeleted, EventMemberDeleted}) || ev1.Rev != ev2.Rev {
		t.Fatalf("events %s, %s", describe(ev1), describe(ev2))
	}
	for _, ev := range []GroupEvent{ev1, ev2} {
		if ev.Kind == EventLeaderDeleted && (ev.Leader == nil || ev.Leader.NodeID != "a") {
			t.Fatalf("LeaderDeleted carries %+v, want the old leader a", ev.Leader)
		}
		if ev.Kind == EventMemberDeleted && ev.Member.NodeID != "a" {
			t.Fatalf("MemberDeleted carries %+v", ev.Member)
		}
	}
	<-s.Done()
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLeaseExpiryDeletesKeys(t *testing.T) {
	name := groupName(t)
	watcher := sharedClient(t).Group(name)
	// The node gets its own connection, closed below without revoking.
	nodeClient, err := Dial(ctxT(t), sharedMember(t).ClientEndpoints(), DialOptions{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g := nodeClient.Group(name)
	s, err := g.NewSession(ctxT(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL() != time.Second {
		t.Fatalf("TTL() = %v, want 1s (shared member's minimum)", s.TTL())
	}
	if err := g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a"}); err != nil {
		t.Fatal(err)
	}
	if won, _, err := g.Campaign(ctxT(t), s, Leader{NodeID: "a"}, Candidate{}); !won || err != nil {
		t.Fatalf("campaign: %v %v", won, err)
	}
	_, rev, _ := watcher.Leader(ctxT(t))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ch := watcher.Watch(ctx, rev)
	nodeClient.Close() // keep-alives stop; the lease expires at the arbiter
	<-s.Done()
	start := time.Now()
	ev := expect(t, ch, EventLeaderDeleted, EventMemberDeleted)
	if ev.Leader == nil || ev.Leader.NodeID != "a" {
		t.Fatalf("LeaderDeleted carries %+v", ev.Leader)
	}
	t.Logf("leader key gone %v after the keep-alives stopped", time.Since(start).Round(time.Millisecond))
	if l, _, _ := watcher.Leader(ctxT(t)); l != nil {
		t.Fatalf("leader still there: %+v", l)
	}
}

func TestLeaseRevokedElsewhere(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	s := newSession(t, g, time.Second)
	if err := s.KeepAliveOnce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Etcd().Revoke(ctxT(t), clientv3.LeaseID(s.LeaseID())); err != nil {
		t.Fatal(err)
	}
	<-s.Done() // the background keep-alive learns the lease is gone
	mustErrIs(t, s.KeepAliveOnce(ctxT(t)), ErrLeaseLost)
	mustErrIs(t, g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a"}), ErrLeaseLost)
	_, _, err := g.Campaign(ctxT(t), s, Leader{NodeID: "a"}, Candidate{})
	mustErrIs(t, err, ErrLeaseLost)
	if l, _, _ := g.Leader(ctxT(t)); l != nil {
		t.Fatalf("campaign on a dead lease left a leader key: %+v", l)
	}
	if e, _ := g.Epoch(ctxT(t)); e != 0 {
		t.Fatalf("campaign on a dead lease bumped the epoch to %d", e)
	}
}

func TestSessionTTL(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	for _, tc := range []struct{ in, want time.Duration }{
		{300 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{1500 * time.Millisecond, 2 * time.Second},
		{3 * time.Second, 3 * time.Second},
	} {
		s := newSession(t, g, tc.in)
		if s.TTL() != tc.want {
			t.Errorf("NewSession(%v).TTL() = %v, want %v", tc.in, s.TTL(), tc.want)
		}
	}
	_, err := g.NewSession(ctxT(t), 0)
	mustErrIs(t, err, ErrInvalidConfig)
}

func TestRequireSync(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a, b, x := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second)
	// A group that never had a leader has lost nothing: anyone may win.
	won, e1, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{Mode: ModeSync})
	if err != nil || !won {
		t.Fatalf("first campaign = %v, %v", won, err)
	}
	if err := g.Resign(ctxT(t), a); err != nil {
		t.Fatal(err)
	}
	// It had a leader but no sync set: nothing was acknowledged
	// synchronously (a sync active writes the set first), so anyone may
	// win.
	if won, e, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{Mode: ModeSync}); !won || err != nil || e != e1+1 {
		t.Fatalf("campaign without a sync set = %v, %d, %v", won, e, err)
	}
	if err := g.PutSyncSet(ctxT(t), b, e1+1, []string{"b", "a"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_, _, err = g.Campaign(ctxT(t), x, Leader{NodeID: "x"}, Candidate{Mode: ModeSync})
	mustErrIs(t, err, ErrNotInSyncSet)
	if l, _, _ := g.Leader(ctxT(t)); l != nil {
		t.Fatalf("refused campaign left a leader: %+v", l)
	}
	if e, _ := g.Epoch(ctxT(t)); e != e1+1 {
		t.Fatalf("refused campaign moved the epoch to %d", e)
	}
	if won, e, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{Mode: ModeSync}); !won || err != nil || e != e1+2 {
		t.Fatalf("a (in the set) campaign = %v, %d, %v", won, e, err)
	}
}

// TestCampaignEligibility is the table of Campaign's eligibility rules
// (docs/architecture.md §3.3): decided from the arbiter's state (sync set, recorded mode),
// whatever the candidate's own mode; members named node@incarnation;
// plain (pre-upgrade) entries admit only a legacy-adopted incarnation or
// a candidate without one.
func TestCampaignEligibility(t *testing.T) {
	const incA, incB = "00000000000000a1", "00000000000000b2"
	for _, tc := range []struct {
		name    string
		mode    string   // recorded group mode ("" none)
		set     []string // sync set (nil: none)
		hadLead bool     // the group had a leader before
		cand    Candidate
		wantErr error // nil: wins
	}{
		{name: "new group, no set", cand: Candidate{Incarnation: incA, Mode: ModeSync}},
		{name: "no set after a leader", hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}},
		{name: "no set, async candidate", hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeAsync}},
		{name: "in set, match", set: []string{"a@" + incA, "b@" + incB}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}},
		{name: "in set, incarnation mismatch", set: []string{"a@" + incB}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "in set, no incarnation vs qualified", set: []string{"a@" + incA}, hadLead: true, cand: Candidate{Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "out of set", set: []string{"b@" + incB}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "out of set, async candidate", set: []string{"b@" + incB}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeAsync}, wantErr: ErrNotInSyncSet},
		{name: "out of set, no mode", set: []string{"b@" + incB}, hadLead: true, cand: Candidate{Incarnation: incA}, wantErr: ErrNotInSyncSet},
		{name: "empty set", set: []string{}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "legacy entry, legacy incarnation", set: []string{"a", "b"}, hadLead: true, cand: Candidate{Incarnation: incA, Legacy: true, Mode: ModeSync}},
		{name: "legacy entry, fresh incarnation", set: []string{"a", "b"}, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "legacy entry, no incarnation", set: []string{"a"}, hadLead: true, cand: Candidate{Mode: ModeSync}},
		{name: "legacy entry of another node", set: []string{"b"}, hadLead: true, cand: Candidate{Incarnation: incA, Legacy: true, Mode: ModeSync}, wantErr: ErrNotInSyncSet},
		{name: "mode mismatch", mode: ModeSync, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeAsync}, wantErr: ErrModeMismatch},
		{name: "mode match", mode: ModeAsync, hadLead: true, cand: Candidate{Incarnation: incA, Mode: ModeAsync}},
		{name: "mode unchecked", mode: ModeSync, hadLead: true, cand: Candidate{Incarnation: incA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sharedClient(t)
			g := c.Group(groupName(t))
			if tc.hadLead || tc.set != nil {
				p := newSession(t, g, 5*time.Second)
				if _, _, err := g.Campaign(ctxT(t), p, Leader{NodeID: "p"}, Candidate{}); err != nil {
					t.Fatal(err)
				}
				if tc.set != nil {
					if err := g.PutSyncSet(ctxT(t), p, 1, tc.set); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Close(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.mode != "" {
				if err := g.SetMode(ctxT(t), tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := g.Epoch(ctxT(t))
			s := newSession(t, g, 5*time.Second)
			won, epoch, err := g.Campaign(ctxT(t), s, Leader{NodeID: "a"}, tc.cand)
			if tc.wantErr != nil {
				mustErrIs(t, err, tc.wantErr)
				if won {
					t.Fatal("won despite the error")
				}
				if l, _, _ := g.Leader(ctxT(t)); l != nil {
					t.Fatalf("refused campaign left a leader: %+v", l)
				}
				return
			}
			if err != nil || !won || epoch != before+1 {
				t.Fatalf("Campaign = %v, %d, %v; want a win at %d", won, epoch, err, before+1)
			}
			l, _, err := g.Leader(ctxT(t))
			if err != nil || l == nil || l.Incarnation != tc.cand.Incarnation {
				t.Fatalf("leader %+v, %v: want incarnation %q", l, err, tc.cand.Incarnation)
			}
			m, err := g.Mode(ctxT(t))
			switch want := cmp.Or(tc.mode, tc.cand.Mode); {
			case err != nil:
				t.Fatal(err)
			case want == "" && m != nil, want != "" && (m == nil || m.Mode != want):
				t.Fatalf("recorded mode %+v, want %q", m, want)
			}
		})
	}
}

func TestSetMode(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	mustErrIs(t, g.SetMode(ctxT(t), "fast"), ErrInvalidConfig)
	a := newSession(t, g, 5*time.Second)
	if err := g.PutMember(ctxT(t), a, MemberStatus{NodeID: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{Incarnation: "00000000000000a1", Mode: ModeSync}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), a, 1, []string{"a@00000000000000a1"}); err != nil {
		t.Fatal(err)
	}
	if m, err := g.Mode(ctxT(t)); err != nil || m == nil || m.Mode != ModeSync || m.SetBy != "a" {
		t.Fatalf("mode recorded by the first win = %+v, %v", m, err)
	}
	mustErrIs(t, g.SetMode(ctxT(t), ModeAsync), ErrGroupRunning)
	if err := a.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := g.SetMode(ctxT(t), ModeAsync); err != nil {
		t.Fatal(err)
	}
	st, err := g.Status(ctxT(t))
	if err != nil || st.Mode == nil || st.Mode.Mode != ModeAsync || st.Sync != nil {
		t.Fatalf("after SetMode(async): %+v, %v", st, err)
	}
	b := newSession(t, g, 5*time.Second)
	if won, _, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{Mode: ModeAsync}); !won || err != nil {
		t.Fatalf("async campaign after the switch = %v, %v", won, err)
	}
}

func TestSyncMemberNames(t *testing.T) {
	for _, tc := range []struct{ entry, node, inc string }{
		{"a@0123456789abcdef", "a", "0123456789abcdef"},
		{"a", "a", ""},
		{"a@b", "a@b", ""},
		{"x@y@0123456789abcdef", "x@y", "0123456789abcdef"},
		{"a@0123456789ABCDEF", "a@0123456789ABCDEF", ""},
		{"@0123456789abcdef", "@0123456789abcdef", ""},
	} {
		if n, i := ParseSyncMember(tc.entry); n != tc.node || i != tc.inc {
			t.Errorf("ParseSyncMember(%q) = %q, %q; want %q, %q", tc.entry, n, i, tc.node, tc.inc)
		}
		if tc.inc != "" && SyncMember(tc.node, tc.inc) != tc.entry {
			t.Errorf("SyncMember(%q, %q) = %q", tc.node, tc.inc, SyncMember(tc.node, tc.inc))
		}
	}
}

func TestPutSyncSet(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a, b := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second)
	if s, err := g.SyncSet(ctxT(t)); s != nil || err != nil {
		t.Fatalf("SyncSet() of a new group = %+v, %v", s, err)
	}
	mustErrIs(t, g.PutSyncSet(ctxT(t), a, 1, []string{"a"}), ErrNotLeader) // nobody leads
	_, epoch, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{})
	if err != nil {
		t.Fatal(err)
	}
	mustErrIs(t, g.PutSyncSet(ctxT(t), b, epoch, []string{"b"}), ErrNotLeader)   // not the leader
	mustErrIs(t, g.PutSyncSet(ctxT(t), a, epoch-1, []string{"a"}), ErrNotLeader) // stale epoch
	mustErrIs(t, g.PutSyncSet(ctxT(t), a, epoch+1, []string{"a"}), ErrNotLeader) // future epoch
	if err := g.PutSyncSet(ctxT(t), a, epoch, []string{"c", "a", "b", "a"}); err != nil {
		t.Fatal(err)
	}
	s, err := g.SyncSet(ctxT(t))
	if err != nil || s == nil {
		t.Fatalf("SyncSet() = %v, %v", s, err)
	}
	if s.Epoch != epoch || !slices.Equal(s.Nodes, []string{"a", "b", "c"}) || s.ModRev == 0 {
		t.Fatalf("SyncSet() = %+v", s)
	}
	// An old leader that lost the key (resigned, or its lease expired and
	// someone else won) can no longer write the set.
	if err := g.Resign(ctxT(t), a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{}); err != nil {
		t.Fatal(err)
	}
	mustErrIs(t, g.PutSyncSet(ctxT(t), a, epoch, []string{"a"}), ErrNotLeader)
	if s2, _ := g.SyncSet(ctxT(t)); s2.ModRev != s.ModRev {
		t.Fatalf("refused write changed the set: %+v", s2)
	}
	if err := g.PutSyncSet(ctxT(t), b, epoch+1, nil); err != nil {
		t.Fatal(err)
	}
	if s3, _ := g.SyncSet(ctxT(t)); s3.Epoch != epoch+1 || s3.Nodes == nil || len(s3.Nodes) != 0 {
		t.Fatalf("empty set read back as %+v", s3)
	}
}

func TestWatchOrder(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a, b := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second)
	_, rev, err := g.Members(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	ch := g.Watch(ctx, rev)
	// The writes happen before anyone reads the channel: the watch must
	// replay them from rev+1, in order.
	if err := g.PutMember(ctxT(t), a, MemberStatus{NodeID: "a", Role: "candidate"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a", Addr: "A"}, Candidate{}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutMember(ctxT(t), b, MemberStatus{NodeID: "b", Role: "standby", DurableLSN: 7}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), a, 1, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := g.Resign(ctxT(t), a); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	want := []string{"MemberSet a", "LeaderSet a", "MemberSet b", "SyncSet a,b", "LeaderDeleted a", "MemberDeleted b"}
	var last int64
	for i, w := range want {
		ev := next(t, ch)
		var who string
		if ev.Leader != nil {
			who = ev.Leader.NodeID
		} else if ev.Member != nil {
			who = ev.Member.NodeID
		} else if ev.Sync != nil {
			who = strings.Join(ev.Sync.Nodes, ",")
		}
		if got := ev.Kind.String() + " " + who; got != w {
			t.Fatalf("event %d = %s, want %s", i, describe(ev), w)
		}
		if ev.Rev <= last {
			t.Fatalf("event %d rev %d not above %d", i, ev.Rev, last)
		}
		last = ev.Rev
		switch ev.Kind {
		case EventLeaderSet:
			if ev.Leader.Epoch != 1 || ev.Leader.Addr != "A" || ev.Leader.LeaseID != a.LeaseID() || ev.Leader.CreateRev != ev.Rev {
				t.Fatalf("LeaderSet carries %+v", ev.Leader)
			}
		case EventMemberSet:
			if ev.Member.NodeID == "b" && (ev.Member.DurableLSN != 7 || ev.Member.Role != "standby") {
				t.Fatalf("MemberSet carries %+v", ev.Member)
			}
		}
	}
	cancel()
	for ev := range ch {
		t.Fatalf("event after cancel: %s", describe(ev))
	}
}

func TestWatchCompacted(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	s := newSession(t, g, 5*time.Second)
	_, old, _ := g.Members(ctxT(t))
	if err := g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a", Role: "standby"}); err != nil {
		t.Fatal(err)
	}
	_, rev, _ := g.Members(ctxT(t))
	if _, err := c.Etcd().Compact(ctxT(t), rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	ev := next(t, g.Watch(ctxT(t), old))
	if ev.Kind != EventErr {
		t.Fatalf("watch from a compacted revision: got %s", describe(ev))
	}
	mustErrIs(t, ev.Err, ErrWatchInterrupted)
	// Re-read and re-watch from the new revision works.
	ms, rev2, err := g.Members(ctxT(t))
	if err != nil || len(ms) != 1 || ms[0].Role != "standby" {
		t.Fatalf("Members() = %+v, %v", ms, err)
	}
	ch := g.Watch(ctxT(t), rev2)
	if err := g.PutMember(ctxT(t), s, MemberStatus{NodeID: "a", Role: "active"}); err != nil {
		t.Fatal(err)
	}
	if ev := expect(t, ch, EventMemberSet); ev.Member.Role != "active" {
		t.Fatalf("after re-watch: %+v", ev.Member)
	}
}

func TestInvalidNames(t *testing.T) {
	c := sharedClient(t)
	s := newSession(t, c.Group("ok"), 5*time.Second)
	for _, name := range []string{"", "a/b"} {
		g := c.Group(name)
		_, _, err := g.Leader(ctxT(t))
		mustErrIs(t, err, ErrInvalidName)
		ev := next(t, g.Watch(ctxT(t), 0))
		mustErrIs(t, ev.Err, ErrInvalidName)
		mustErrIs(t, c.Group("ok").PutMember(ctxT(t), s, MemberStatus{NodeID: name}), ErrInvalidName)
		_, _, err = c.Group("ok").Campaign(ctxT(t), s, Leader{NodeID: name}, Candidate{})
		mustErrIs(t, err, ErrInvalidName)
	}
}

func TestDialUnreachable(t *testing.T) {
	// Nothing listens on port 1.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, []string{"127.0.0.1:1"}, DialOptions{DialTimeout: 300 * time.Millisecond, Logger: testLogger()})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Dial took %v with a 300ms DialTimeout", d)
	}
	_, err = Dial(ctx, nil, DialOptions{})
	mustErrIs(t, err, ErrInvalidConfig)
}

// A keep-alive stream that lapses while the lease still exists (what the
// etcd client does when its member dies or etcd elects a leader for longer
// than the TTL) is resumed on the same lease: the session does not end.
func TestSessionResumesLapsedKeepAlive(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	s := newSession(t, g, 2*time.Second)
	for round := 1; round <= 2; round++ {
		s.mu.Lock()
		cs := s.cs
		s.mu.Unlock()
		cs.Orphan() // the background keep-alive stops, as after a lapse
		for s.Resumes() < round {
			select {
			case <-s.Done():
				t.Fatalf("round %d: session ended after a lapse: %v", round, s.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
		resp, err := c.Etcd().TimeToLive(ctxT(t), clientv3.LeaseID(s.LeaseID()))
		if err != nil || resp.TTL < 0 { // -1: no such lease
			t.Fatalf("round %d: lease after resume: ttl %v err %v", round, resp.TTL, err)
		}
	}
	if s.Err() != nil {
		t.Fatalf("Err on a live session: %v", s.Err())
	}
	if _, err := c.Etcd().Revoke(ctxT(t), clientv3.LeaseID(s.LeaseID())); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	mustErrIs(t, s.Err(), ErrLeaseLost)
}

// TestForceSyncSetNamesIncarnations: the operator's override names a live
// member with its incarnation (so its campaign is admitted), and an absent
// one plainly.
func TestForceSyncSetNamesIncarnations(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	c := newSession(t, g, 5*time.Second)
	const inc = "00000000000000c3"
	if err := g.PutMember(ctxT(t), c, MemberStatus{NodeID: "c", Incarnation: inc}); err != nil {
		t.Fatal(err)
	}
	if err := g.ForceSyncSet(ctxT(t), []string{"c", "gone"}, ForceSyncSetOptions{}); err != nil {
		t.Fatal(err)
	}
	set, err := g.SyncSet(ctxT(t))
	if err != nil || set == nil || !slices.Equal(set.Nodes, []string{"c@" + inc, "gone"}) {
		t.Fatalf("sync set %+v, %v", set, err)
	}
	if won, _, err := g.Campaign(ctxT(t), c, Leader{NodeID: "c"}, Candidate{Incarnation: inc}); !won || err != nil {
		t.Fatalf("campaign of the forced member = %v, %v", won, err)
	}
}
