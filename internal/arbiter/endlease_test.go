package arbiter

import (
	"testing"
	"time"
)

func TestEndLeaderLease(t *testing.T) {
	g := sharedClient(t).Group(groupName(t))
	a := newSession(t, g, 10*time.Second)
	b := newSession(t, g, 10*time.Second)
	if won, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{}); err != nil || !won {
		t.Fatalf("campaign a: won %v err %v", won, err)
	}
	// Another lease than the leader's: nothing happens.
	if ended, err := g.EndLeaderLease(ctxT(t), b.LeaseID()); err != nil || ended {
		t.Fatalf("ended b's lease while a leads: %v %v", ended, err)
	}
	if l, _, _ := g.Leader(ctxT(t)); l == nil || l.NodeID != "a" {
		t.Fatalf("leader after a refused end: %+v", l)
	}
	ended, err := g.EndLeaderLease(ctxT(t), a.LeaseID())
	if err != nil || !ended {
		t.Fatalf("end a's lease: %v %v", ended, err)
	}
	if l, _, _ := g.Leader(ctxT(t)); l != nil {
		t.Fatalf("leader key survived its lease: %+v", l)
	}
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked session did not end")
	}
	// Again: the key is gone, nothing to end.
	if ended, err := g.EndLeaderLease(ctxT(t), a.LeaseID()); err != nil || ended {
		t.Fatalf("second end: %v %v", ended, err)
	}
	if won, _, err := g.Campaign(ctxT(t), b, Leader{NodeID: "b"}, Candidate{}); err != nil || !won {
		t.Fatalf("campaign b after the early end: won %v err %v", won, err)
	}
}
