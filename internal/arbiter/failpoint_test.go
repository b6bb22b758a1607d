//go:build failpoints

package arbiter

import (
	"slices"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// TestFailpointTxnAmbiguous: arbiter/txn-ambiguous makes a campaign and a
// sync-set write return an error after the transaction took effect (the
// keys read back show it), as a lost response would.
func TestFailpointTxnAmbiguous(t *testing.T) {
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a := newSession(t, g, 5*time.Second)
	const fp = "arbiter/txn-ambiguous"
	if err := failpoint.Enable(fp, "2*error"); err != nil {
		t.Fatal(err)
	}
	defer failpoint.Disable(fp)

	_, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{})
	mustErrIs(t, err, failpoint.ErrInjected)
	l, _, err := g.Leader(ctxT(t))
	if err != nil || l == nil || l.NodeID != "a" || l.LeaseID != a.LeaseID() {
		t.Fatalf("after an ambiguous campaign the leader is %+v, %v; want a (the transaction committed)", l, err)
	}
	mustErrIs(t, g.PutSyncSet(ctxT(t), a, l.Epoch, []string{"a", "b"}), failpoint.ErrInjected)
	s, err := g.SyncSet(ctxT(t))
	if err != nil || s == nil || !slices.Equal(s.Nodes, []string{"a", "b"}) {
		t.Fatalf("after an ambiguous sync-set write the set is %+v, %v; want [a b]", s, err)
	}
	// Disarmed after two firings: the retried campaign finds itself leader.
	won, epoch, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{})
	if err != nil || !won || epoch != l.Epoch {
		t.Fatalf("campaign again = %v, %d, %v; want won at %d", won, epoch, err, l.Epoch)
	}
}
