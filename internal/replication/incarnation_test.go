package replication

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
)

// TestHelloIncarnationWire: the Hello's incarnation survives the wire; a
// Hello without one encodes as before it existed.
func TestHelloIncarnationWire(t *testing.T) {
	for _, h := range []hello{
		{Group: "g", NodeID: "n1", Epoch: 3, LastLSN: 9, Incarnation: "0123456789abcdef"},
		{Group: "g", NodeID: "n1", Epoch: 3, LastLSN: 9, Flags: helloWantSnapshot, Incarnation: "0123456789abcdef"},
		{Group: "g", NodeID: "n1", Epoch: 3, LastLSN: 9, Flags: helloWantSnapshot},
	} {
		f, err := decodeFrame(encodeFrame(&frame{Kind: kindHello, Epoch: 3, Hello: h}))
		if err != nil {
			t.Fatal(err)
		}
		if f.Hello.Incarnation != h.Incarnation || f.Hello.Flags != h.Flags || f.Hello.NodeID != h.NodeID {
			t.Fatalf("decoded %+v, want %+v", f.Hello, h)
		}
	}
	// Without incarnation and flags: group, node id, epoch, last epoch,
	// last lsn, empty history; nothing after (as before incarnations).
	plain := encodeFrame(&frame{Kind: kindHello, Epoch: 1, Hello: hello{NodeID: "n"}})
	if want := 1 + 8 + 4 + 4 + 1 + 8 + 8 + 8 + 4 + 4; len(plain) != want {
		t.Fatalf("a Hello without incarnation is %d bytes, want %d", len(plain), want)
	}
	withInc := encodeFrame(&frame{Kind: kindHello, Epoch: 1, Hello: hello{NodeID: "n", Incarnation: "0123456789abcdef"}})
	if !bytes.Equal(withInc[:len(plain)-4], plain[:len(plain)-4]) || len(withInc) != len(plain)+1+4+16 {
		t.Fatalf("a Hello with incarnation: %x; want the plain one + flags + incarnation", withInc)
	}
}

// TestWindow6CutRenewsIncarnation: a standby whose log is cut gets a new
// incarnation before the cut (BeforeReplace), says so in its next Hello,
// and the active knows it under node@incarnation only: the old name no
// longer finds it.
func TestWindow6CutRenewsIncarnation(t *testing.T) {
	ctx := context.Background()
	active, old := openEngine(t, 1), openEngine(t, 1)
	if _, err := active.WriteEpochStart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	createColl(t, active, "c")
	write(t, active, "c", 0, 5)

	var mu sync.Mutex
	inc := "00000000000000a1"
	var calls []string
	var lastAtCall uint64
	opts := ReceiverOptions{NodeID: "old", Logger: quietLog,
		Incarnation: func() string { mu.Lock(); defer mu.Unlock(); return inc },
		BeforeReplace: func(what string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, what)
			lastAtCall = old.LastLSN()
			inc = "00000000000000b2"
			return nil
		}}
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(old, opts))
	r.Follow(ctx, srv.addr, 1)
	assertConverged(t, active, old)
	if err := s.WaitDurable(testCtx(t), "old@00000000000000a1", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Peer("old"); !ok || p.Member() != "old@00000000000000a1" {
		t.Fatalf("peer %+v %v", p, ok)
	}
	r.Stop()
	common := active.LastLSN()
	write(t, old, "c", 100, 103)
	before := old.LastLSN()
	if _, err := active.WriteEpochStart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	write(t, active, "c", 5, 8)

	r.Follow(ctx, srv.addr, 2)
	if st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Cuts == 1 }); err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, old)
	mu.Lock()
	gotCalls, gotLast := calls, lastAtCall
	mu.Unlock()
	if len(gotCalls) != 1 || gotCalls[0] != "cut" || gotLast != before || before <= common {
		t.Fatalf("BeforeReplace calls %v at lsn %d; want one cut before the log (at %d) was cut to %d", gotCalls, gotLast, before, common)
	}
	if err := s.WaitDurable(testCtx(t), "old@00000000000000b2", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Peer("old@00000000000000a1"); ok {
		t.Fatalf("the old incarnation still names the standby: %+v", p)
	}
	ps := s.Peers()
	if len(ps) != 1 || ps[0].Incarnation != "00000000000000b2" {
		t.Fatalf("peers %+v", ps)
	}
}

// TestHelloWithoutIncarnationForOldActive: an active from before
// incarnations refuses a Hello carrying one ("trailing bytes"); the
// standby then sends its Hellos without it, so a rolling upgrade can
// start with the standbys.
func TestHelloWithoutIncarnationForOldActive(t *testing.T) {
	standby := openEngine(t, 1)
	hellos := make(chan hello, 8)
	fake := &fakeActive{script: func(c conn) error {
		f, err := c.recv()
		if err != nil {
			return err
		}
		hellos <- f.Hello
		if f.Hello.Incarnation != "" {
			// What decodeFrame said before incarnations existed.
			return fmt.Errorf("%w: %d trailing bytes", errBadFrame, 21)
		}
		_, err = c.recv() // until the standby hangs up
		return err
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&serviceDesc, fake)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog,
		Incarnation: func() string { return "0123456789abcdef" }}))
	r.Follow(context.Background(), lis.Addr().String(), 1)
	if h := <-hellos; h.Incarnation != "0123456789abcdef" {
		t.Fatalf("first hello %+v: want the incarnation", h)
	}
	if h := <-hellos; h.Incarnation != "" {
		t.Fatalf("second hello %+v: want none", h)
	}
}

// TestWindow6SnapshotRenewsIncarnation: a standby whose state is replaced
// by a snapshot gets a new incarnation before the install, and reconnects
// instead of acknowledging the snapshot under the old one: the active
// knows it as node@new incarnation only.
func TestWindow6SnapshotRenewsIncarnation(t *testing.T) {
	ctx := context.Background()
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 30)
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inc := "00000000000000a1"
	var calls []string
	opts := fastRetry(ReceiverOptions{NodeID: "s1",
		Incarnation: func() string { mu.Lock(); defer mu.Unlock(); return inc },
		BeforeReplace: func(what string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, what)
			inc = "00000000000000b2"
			return nil
		}})
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, opts))
	r.Follow(ctx, srv.addr, 0)
	assertConverged(t, active, standby)
	if err := s.WaitDurable(testCtx(t), "s1@00000000000000b2", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := calls
	mu.Unlock()
	if len(got) != 1 || got[0] != "snapshot" {
		t.Fatalf("BeforeReplace calls %v, want one snapshot", got)
	}
	if _, ok := s.Peer("s1@00000000000000a1"); ok {
		t.Fatal("the old incarnation still names the standby")
	}
	if st := r.Status(); st.Snapshots != 1 || st.Connects < 2 {
		t.Fatalf("status %+v: want one snapshot, then a reconnect", st)
	}
}
