package replication

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/wal"
)

func newReceiver(t *testing.T, r *Receiver) *Receiver {
	t.Cleanup(r.Stop)
	return r
}

func TestStreamCatchUpAndTail(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 30) // history served from the WAL

	// A small window forces flow control: many batches wait for acks.
	s := NewSender(active, SenderOptions{Group: "g", WindowBytes: 2 << 10, BatchBytes: 512, Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{Group: "g", NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), srv.addr, 0)
	assertConverged(t, active, standby)

	write(t, active, "c", 30, 60) // tailed live
	assertConverged(t, active, standby)

	if err := s.WaitDurable(testCtx(t), "s1", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
	p, ok := s.Peer("s1")
	if !ok || p.DurableLSN != active.LastLSN() || p.AppliedLSN != active.LastLSN() || p.SentLSN != active.LastLSN() {
		t.Fatalf("peer state %+v (ok %v), want all at %d", p, ok, active.LastLSN())
	}
	if st := r.Status(); st.State != StateStreaming || st.Connects != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestResumeAfterStreamDies(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 20)

	s := NewSender(active, SenderOptions{WindowBytes: 1 << 10, BatchBytes: 256, Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), srv.addr, 0)
	waitLSN(t, standby, 5) // mid-way

	srv.stop() // the stream dies while records are still owed
	write(t, active, "c", 20, 40)
	srv2 := startServer(t, s, srv.addr)
	assertConverged(t, active, standby)
	if st := r.Status(); st.Connects < 2 {
		t.Fatalf("status %+v: want a reconnect", st)
	}

	srv2.stop()
	write(t, active, "c", 40, 50)
	startServer(t, s, srv.addr)
	assertConverged(t, active, standby)
}

func TestDivergedStandbyGetsCut(t *testing.T) {
	ctx := context.Background()
	active, old := openEngine(t, 1), openEngine(t, 1)
	if _, err := active.WriteEpochStart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	createColl(t, active, "c")
	write(t, active, "c", 0, 5)

	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(old, ReceiverOptions{NodeID: "old", Logger: quietLog}))
	r.Follow(ctx, srv.addr, 1)
	assertConverged(t, active, old)
	r.Stop()
	common := active.LastLSN()

	// old writes on in epoch 1 (records nobody else has); active starts
	// epoch 2 and writes more.
	write(t, old, "c", 100, 103)
	cut := walRecords(t, old, common+1)
	if _, err := active.WriteEpochStart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	write(t, active, "c", 5, 8)

	// old cuts its log after the common prefix, keeps the cut records in
	// diverged/, rebuilds and follows the active to an equal state.
	r.Follow(ctx, srv.addr, 2)
	st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Cuts == 1 })
	if err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, old)
	st = r.Status()
	c := st.LastCut
	if st.CutAfter != common || c.After != common || c.Count != uint64(len(cut)) || c.First != common+1 ||
		c.Last != cut[len(cut)-1].LSN || c.Saved != c.Count || c.NeedSnapshot {
		t.Fatalf("status %+v, want a cut after %d of %d records", st, common, len(cut))
	}
	sameRecords(t, readDiverged(t, c.File), cut)
	if st.Epoch != 2 || st.State != StateStreaming || st.Snapshots != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestStaleActiveRefusesStandby(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	s := NewSender(active, SenderOptions{Logger: quietLog}) // epoch 1: no epoch-start record
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), srv.addr, 3)
	st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.LastErr != nil })
	if err != nil {
		t.Fatal(err)
	}
	if status.Code(st.LastErr) != codes.FailedPrecondition || standby.LastLSN() != 0 {
		t.Fatalf("status %+v, standby lsn %d: want a FailedPrecondition refusal and nothing applied", st, standby.LastLSN())
	}
}

func TestActiveRefusesOldEpochAck(t *testing.T) {
	active := openEngine(t, 1)
	if _, err := active.WriteEpochStart(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c, err := openStream(testCtx(t), cc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(&frame{Kind: kindHello, Epoch: 1, Hello: hello{NodeID: "x", Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
	f, err := c.recv()
	if err != nil || f.Kind != kindRecords || f.Epoch != 2 {
		t.Fatalf("recv %+v, %v: want records of epoch 2", f, err)
	}
	if err := c.send(&frame{Kind: kindAck, Epoch: 1, Ack: ack{Durable: 1, Applied: 1}}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err = c.recv()
		if err != nil {
			break
		}
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stream ended with %v, want FailedPrecondition", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

// fakeActive serves one scripted stream.
type fakeActive struct {
	script func(c conn) error
}

func (f *fakeActive) serve(c conn) error { return f.script(c) }

func TestStandbyRefusesLowerEpochRecords(t *testing.T) {
	standby := openEngine(t, 1)
	hellos := make(chan hello, 4)
	fake := &fakeActive{script: func(c conn) error {
		f, err := c.recv()
		if err != nil {
			return err
		}
		hellos <- f.Hello
		if err := c.send(&frame{Kind: kindRecords, Epoch: 1, Records: []wal.Record{recordOf(1, 1, 1, "")}}); err != nil {
			return err
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

	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), lis.Addr().String(), 2)
	st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.LastErr != nil })
	if err != nil {
		t.Fatal(err)
	}
	if h := <-hellos; h.Epoch != 2 || h.NodeID != "s1" || h.LastLSN != 0 {
		t.Fatalf("hello %+v", h)
	}
	if standby.LastLSN() != 0 || st.Epoch != 2 {
		t.Fatalf("status %+v, lsn %d: the epoch-1 record must be refused", st, standby.LastLSN())
	}
}

func TestSenderCloseEndsStreams(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(context.Background(), srv.addr, 0)
	assertConverged(t, active, standby)
	s.Close()
	st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.LastErr != nil })
	if err != nil || status.Code(st.LastErr) != codes.Unavailable {
		t.Fatalf("status %+v, %v: want the stream ended with Unavailable", st, err)
	}
	if _, ok := s.Peer("s1"); ok {
		t.Fatal("closed sender still lists the peer")
	}
}

func TestStandbyRestartResumesWithEpochHistory(t *testing.T) {
	ctx := context.Background()
	active := openEngine(t, 1)
	dir := t.TempDir()
	standby := openEngineIn(t, dir, 1)
	if _, err := active.WriteEpochStart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	createColl(t, active, "c")
	write(t, active, "c", 0, 10)
	epoch := uint64(1)
	s := NewSender(active, SenderOptions{Epoch: func() uint64 { return epoch }, Logger: quietLog})
	srv := startServer(t, s, "")
	r := NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog})
	r.Follow(ctx, srv.addr, 1)
	assertConverged(t, active, standby)
	r.Stop()
	if err := standby.Close(); err != nil {
		t.Fatal(err)
	}

	// The active moves to epoch 2 while the standby is down (a switchover
	// to the same node, as far as the log is concerned).
	if _, err := active.WriteEpochStart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	epoch = 2 // no stream is running: nothing reads epoch concurrently
	srv = startServer(t, s, srv.addr)
	write(t, active, "c", 10, 20)

	standby = openEngineIn(t, dir, 1)
	r = newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(ctx, srv.addr, 2)
	assertConverged(t, active, standby)
	if a, b := active.EpochHistory(), standby.EpochHistory(); len(a) != 2 || len(b) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Fatalf("epoch histories differ: active %+v, standby %+v", a, b)
	}
	if p, ok := s.Peer("s1"); !ok || p.Epoch != 2 {
		t.Fatalf("peer %+v, %v: want epoch 2", p, ok)
	}
}
