package node

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// TestWindow9PromoteForceWithLiveSyncMember: `tandem promote --force` in
// a normal election gap (no leader key; a member of the sync set alive
// and about to win) must not replace the sync set: the refusal names the
// live member and the override. With --even-if-sync-members-alive it
// does. Before the fix the set was replaced, and the live member (holding
// every acknowledged write) could no longer win.
func TestWindow9PromoteForceWithLiveSyncMember(t *testing.T) {
	eps := startArbiter(t)
	ctx := ctxT(t, 30*time.Second)
	cli, err := arbiter.Dial(ctx, eps, arbiter.DialOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	g := cli.Group("g9")
	sess := func(id string, lsn uint64) *arbiter.Session {
		s, err := g.NewSession(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(ctx) })
		if err := g.PutMember(ctx, s, arbiter.MemberStatus{NodeID: id, Role: "candidate", Epoch: 1, DurableLSN: lsn}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// n1 was the active with sync set {n1, n2}; it resigned (an election
	// gap) and is alive; n3 (outside the set, behind) is alive too.
	s1 := sess("n1", 100)
	sess("n3", 40)
	won, epoch, err := g.Campaign(ctx, s1, arbiter.Leader{NodeID: "n1"}, arbiter.Candidate{})
	if err != nil || !won {
		t.Fatalf("campaign: %v %v", won, err)
	}
	if err := g.PutSyncSet(ctx, s1, epoch, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	if err := g.Resign(ctx, s1); err != nil {
		t.Fatal(err)
	}

	var warn bytes.Buffer
	_, err = ForcePromote(ctx, g, "n3", PromoteOptions{}, &warn)
	set, serr := g.SyncSet(ctx)
	if serr != nil {
		t.Fatal(serr)
	}
	if err == nil || !slices.Equal(set.Nodes, []string{"n1", "n2"}) {
		t.Fatalf("promote --force n3 while sync-set member n1 is alive: err %v; sync set now %v (want it refused and {n1, n2} kept)", err, set.Nodes)
	}
	if !errors.Is(err, arbiter.ErrSyncMembersAlive) || !strings.Contains(err.Error(), "n1") ||
		strings.Contains(err.Error(), "n2,") || !strings.Contains(err.Error(), EvenIfSyncMembersAliveFlag) {
		t.Fatalf("refusal %q: want ErrSyncMembersAlive naming n1 (only) and %s", err, EvenIfSyncMembersAliveFlag)
	}
	if warn.Len() != 0 {
		t.Fatalf("a refused promote printed a loss warning: %q", warn.String())
	}
	t.Logf("refused: %v", err)

	// The operator insists.
	rep, err := ForcePromote(ctx, g, "n3", PromoteOptions{EvenIfSyncMembersAlive: true}, &warn)
	if err != nil {
		t.Fatal(err)
	}
	set, _ = g.SyncSet(ctx)
	if !slices.Equal(set.Nodes, []string{"n3"}) || rep.Ahead != "n1" || rep.DurableLSN != 40 {
		t.Fatalf("forced: sync set %v, report %+v", set.Nodes, rep)
	}
	if !strings.Contains(warn.String(), "LOST") || !strings.Contains(warn.String(), "n1 is further ahead") {
		t.Fatalf("warning %q", warn.String())
	}

	// Once no member of the set is alive, --force alone is enough.
	s4 := sess("n4", 40)
	// n4 becomes the sync set's only member (an operator's earlier force)
	// and wins; then it dies.
	if err := g.ForceSyncSet(ctx, []string{"n4"}, arbiter.ForceSyncSetOptions{EvenIfSyncMembersAlive: true}); err != nil {
		t.Fatal(err)
	}
	won, epoch, err = g.Campaign(ctx, s4, arbiter.Leader{NodeID: "n4"}, arbiter.Candidate{})
	if err != nil || !won {
		t.Fatalf("campaign: %v %v", won, err)
	}
	if err := g.PutSyncSet(ctx, s4, epoch, []string{"n4"}); err != nil {
		t.Fatal(err)
	}
	if err := s4.Close(ctx); err != nil { // n4 dies with its keys
		t.Fatal(err)
	}
	if _, err := ForcePromote(ctx, g, "n3", PromoteOptions{}, &warn); err != nil {
		t.Fatalf("promote with no live sync-set member: %v", err)
	}
	if set, _ = g.SyncSet(ctx); !slices.Equal(set.Nodes, []string{"n3"}) {
		t.Fatalf("sync set %v, want [n3]", set.Nodes)
	}
}
