//go:build failpoints

package arbiter

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// TestPutSyncSetDelayedWriteCannotUndoLater: a write of S held in flight
// (read done, transaction not yet sent) must not land after a later write
// of S: the caller, which saw the first one fail, settled S with the
// second and acts on it.
func TestPutSyncSetDelayedWriteCannotUndoLater(t *testing.T) {
	const fp = "arbiter/put-sync-set-before-txn"
	c := sharedClient(t)
	g := c.Group(groupName(t))
	a := newSession(t, g, 5*time.Second)
	_, epoch, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a"}, Candidate{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), a, epoch, []string{"a", "y"}); err != nil {
		t.Fatal(err)
	}
	hits := failpoint.Hits(fp)
	if err := failpoint.Enable(fp, "pause"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable(fp) })
	delayed := make(chan error, 1)
	go func() { delayed <- g.PutSyncSet(context.Background(), a, epoch, []string{"a", "x", "y"}) }()
	if err := failpoint.WaitHit(ctxT(t), fp, hits+1); err != nil {
		t.Fatal(err)
	}
	// The later write of S (here straight to etcd: the failpoint holds
	// PutSyncSet) lands first.
	later := encodeJSON(SyncSet{Epoch: epoch, Nodes: []string{"a", "y"}})
	if _, err := c.cli.Put(ctxT(t), syncKey(g.name), later); err != nil {
		t.Fatal(err)
	}
	failpoint.Disable(fp)
	mustErrIs(t, <-delayed, ErrSyncSetChanged)
	s, err := g.SyncSet(ctxT(t))
	if err != nil || !slices.Equal(s.Nodes, []string{"a", "y"}) {
		t.Fatalf("sync set %+v (%v): the delayed write undid the later one", s, err)
	}
	// The leader writes again from what it reads now.
	if err := g.PutSyncSet(ctxT(t), a, epoch, []string{"a"}); err != nil {
		t.Fatal(err)
	}
}
