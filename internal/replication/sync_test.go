package replication

import (
	"context"
	"errors"
	"testing"
)

func TestWaitDurableCount(t *testing.T) {
	active, sb1, sb2 := openEngine(t, 1), openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 10)
	s := NewSender(active, SenderOptions{Group: "g", Logger: quietLog})
	srv := startServer(t, s, "")
	lsn := active.LastLSN()

	if err := s.WaitDurableCount(testCtx(t), 0, lsn); err != nil {
		t.Fatalf("k=0: %v", err)
	}
	// No standby yet: a bounded wait fails with the context's error.
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if err := s.WaitDurableCount(ctx, 1, lsn); !errors.Is(err, context.Canceled) {
		t.Fatalf("no standby: %v", err)
	}

	r1 := newReceiver(t, NewReceiver(sb1, ReceiverOptions{Group: "g", NodeID: "s1", Logger: quietLog}))
	r1.Follow(context.Background(), srv.addr, 0)
	if err := s.WaitDurableCount(testCtx(t), 1, lsn); err != nil {
		t.Fatal(err)
	}
	r2 := newReceiver(t, NewReceiver(sb2, ReceiverOptions{Group: "g", NodeID: "s2", Logger: quietLog}))
	r2.Follow(context.Background(), srv.addr, 0)
	if err := s.WaitDurableCount(testCtx(t), 2, lsn); err != nil {
		t.Fatal(err)
	}
	for _, e := range []interface{ DurableLSN() uint64 }{sb1, sb2} {
		if e.DurableLSN() < lsn {
			t.Fatalf("standby durable %d < %d", e.DurableLSN(), lsn)
		}
	}

	// Closing the sender releases waiters.
	s.Close()
	if err := s.WaitDurableCount(testCtx(t), 3, lsn); err == nil {
		t.Fatal("wait on a closed sender succeeded")
	}
}
