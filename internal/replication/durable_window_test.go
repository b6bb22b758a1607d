//go:build failpoints

package replication

import (
	"context"
	"testing"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// awaitPeer waits until the sender's state of standby id satisfies cond
// (ok: whether it is connected) and returns it.
func awaitPeer(t *testing.T, s *Sender, id string, cond func(p PeerState, ok bool) bool) PeerState {
	t.Helper()
	ctx := testCtx(t)
	for {
		s.mu.Lock()
		ch := s.changed
		p, ok := s.peers[id]
		var ps PeerState
		if ok {
			ps = *p
		}
		s.mu.Unlock()
		if cond(ps, ok) {
			return ps
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("standby %s never reached the condition (last %+v, connected %v)", id, ps, ok)
		}
	}
}

// TestWindow2DurableLSNOnReconnect: a standby whose WAL holds records it
// applied but has not fsynced reconnects. Its hello's position counts as
// applied, not durable: the active must not count those records durable
// (sync mode would acknowledge writes a power loss on the standby loses).
func TestWindow2DurableLSNOnReconnect(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 5)
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), srv.addr, 0)
	assertConverged(t, active, standby)
	if err := s.WaitDurable(testCtx(t), "s1", active.LastLSN()); err != nil {
		t.Fatal(err)
	}

	// From now on the standby applies records without making them
	// durable. One fsync asked for before may still run (its request is
	// queued): write until records stay unsynced.
	if err := failpoint.Enable("replication/standby-skip-fsync", "error"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { failpoint.Disable("replication/standby-skip-fsync") })
	for round := 5; ; round++ {
		write(t, active, "c", round, round+1)
		waitLSN(t, standby, active.LastLSN())
		if standby.DurableLSN() < standby.LastLSN() {
			break
		}
		if round > 20 {
			t.Fatalf("standby keeps making records durable: %d", standby.DurableLSN())
		}
	}
	synced, applied := standby.DurableLSN(), standby.LastLSN()

	// The stream breaks and the standby reconnects.
	srv.stop()
	awaitPeer(t, s, "s1", func(_ PeerState, ok bool) bool { return !ok })
	startServer(t, s, srv.addr)
	p := awaitPeer(t, s, "s1", func(_ PeerState, ok bool) bool { return ok })
	if p.DurableLSN > synced {
		t.Fatalf("after the reconnect the active counts lsn %d of s1 durable; s1 has %d durable (%d applied)",
			p.DurableLSN, synced, applied)
	}
	if p.DurableLSN != synced || p.AppliedLSN != applied {
		t.Fatalf("peer state %+v, want durable %d (the hello's), applied %d", p, synced, applied)
	}

	// Once the standby fsyncs again, its Acks make everything durable.
	failpoint.Disable("replication/standby-skip-fsync")
	write(t, active, "c", 30, 31)
	assertConverged(t, active, standby)
	if err := s.WaitDurable(testCtx(t), "s1", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
}
