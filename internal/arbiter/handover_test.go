package arbiter

import (
	"slices"
	"testing"
	"time"
)

func TestHandover(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	a, b := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second)
	if err := g.PutMember(ctxT(t), b, MemberStatus{NodeID: "b", Addr: "B", PeerAddr: "BP"}); err != nil {
		t.Fatal(err)
	}
	won, epoch, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a", Addr: "A"}, Candidate{})
	if err != nil || !won || epoch != 1 {
		t.Fatalf("campaign: won %v epoch %d err %v", won, epoch, err)
	}
	_, err = g.Handover(ctxT(t), a, 2, "b")
	mustErrIs(t, err, ErrNotLeader) // wrong epoch
	_, err = g.Handover(ctxT(t), b, 1, "b")
	mustErrIs(t, err, ErrNotLeader) // not the leader's session
	_, err = g.Handover(ctxT(t), a, 1, "nobody")
	mustErrIs(t, err, ErrNoMember)

	next, err := g.Handover(ctxT(t), a, 1, "b")
	if err != nil || next != 2 {
		t.Fatalf("handover: epoch %d err %v", next, err)
	}
	l, _, err := g.Leader(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if l == nil || l.NodeID != "b" || l.Addr != "B" || l.PeerAddr != "BP" || l.Epoch != 2 || l.LeaseID != b.LeaseID() {
		t.Fatalf("leader after handover: %+v (b's lease %x)", l, b.LeaseID())
	}
	if e, _ := g.Epoch(ctxT(t)); e != 2 {
		t.Fatalf("epoch after handover %d, want 2", e)
	}
	// The old leader cannot hand over again.
	_, err = g.Handover(ctxT(t), a, 1, "b")
	mustErrIs(t, err, ErrNotLeader)
	// The key is on b's lease: it goes with it.
	if err := b.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := g.Leader(ctxT(t)); l != nil {
		t.Fatalf("leader key outlived the new leader's lease: %+v", l)
	}
}

func TestForceSyncSet(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	a := newSession(t, g, 5*time.Second)
	if _, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), a, 1, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	mustErrIs(t, g.ForceSyncSet(ctxT(t), []string{"c"}, ForceSyncSetOptions{}), ErrContention)
	if err := a.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c := newSession(t, g, 5*time.Second)
	_, _, err := g.Campaign(ctxT(t), c, Leader{NodeID: "c"}, Candidate{})
	mustErrIs(t, err, ErrNotInSyncSet)
	if err := g.ForceSyncSet(ctxT(t), []string{"c"}, ForceSyncSetOptions{}); err != nil {
		t.Fatal(err)
	}
	set, err := g.SyncSet(ctxT(t))
	if err != nil || set == nil || set.Epoch != 1 || !slices.Equal(set.Nodes, []string{"c"}) {
		t.Fatalf("sync set %+v err %v", set, err)
	}
	won, epoch, err := g.Campaign(ctxT(t), c, Leader{NodeID: "c"}, Candidate{})
	if err != nil || !won || epoch != 2 {
		t.Fatalf("campaign after force: won %v epoch %d err %v", won, epoch, err)
	}
}
