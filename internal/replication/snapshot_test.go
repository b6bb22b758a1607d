package replication

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/wal"
)

func openEngineCfg(t *testing.T, dir string, mod func(*engine.Config)) *engine.Engine {
	t.Helper()
	cfg := engine.Config{DataDir: dir, Epoch: 1, Logger: quietLog, SegmentMaxRows: 64}
	if mod != nil {
		mod(&cfg)
	}
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

var errStopIter = errors.New("stop")

// walRecords returns e's WAL records from from to its last LSN.
func walRecords(t *testing.T, e *engine.Engine, from uint64) []wal.Record {
	t.Helper()
	last := e.LastLSN()
	var out []wal.Record
	err := e.IterateWAL(from, func(r wal.Record) error {
		if r.LSN > last {
			return errStopIter
		}
		out = append(out, r)
		return nil
	})
	if err != nil && !errors.Is(err, errStopIter) {
		t.Fatal(err)
	}
	return out
}

func readDiverged(t *testing.T, path string) []wal.Record {
	t.Helper()
	var out []wal.Record
	if err := wal.ReadFile(path, func(r wal.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return out
}

func sameRecords(t *testing.T, got, want []wal.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Epoch != w.Epoch || g.LSN != w.LSN || g.Type != w.Type || string(g.Payload) != string(w.Payload) {
			t.Fatalf("record %d: (%d, %d, type %d) differs from (%d, %d, type %d)", i, g.Epoch, g.LSN, g.Type, w.Epoch, w.LSN, w.Type)
		}
	}
}

func fastRetry(o ReceiverOptions) ReceiverOptions {
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if o.Logger == nil {
		o.Logger = quietLog
	}
	return o
}

// TestCutPastCheckpointGetsSnapshot: the resurrected node checkpointed
// after writing the records the new active never had, so its checkpoint
// is past the cut point: it saves them, gets a snapshot and converges.
func TestCutPastCheckpointGetsSnapshot(t *testing.T) {
	ctx := context.Background()
	active, old := openEngine(t, 1), openEngine(t, 1)
	if _, err := active.WriteEpochStart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	createColl(t, active, "c")
	write(t, active, "c", 0, 10)
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(old, fastRetry(ReceiverOptions{NodeID: "old"})))
	r.Follow(ctx, srv.addr, 1)
	assertConverged(t, active, old)
	r.Stop()
	common := active.LastLSN()

	write(t, old, "c", 100, 120)
	if err := old.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cut := walRecords(t, old, common+1)
	if _, err := active.WriteEpochStart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	write(t, active, "c", 10, 15)

	r.Follow(ctx, srv.addr, 2)
	if st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Snapshots == 1 }); err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, old)
	st := r.Status()
	c := st.LastCut
	if st.Cuts != 1 || c.After != common || !c.NeedSnapshot || c.Count != uint64(len(cut)) || c.Saved != c.Count {
		t.Fatalf("status %+v, want a cut after %d of %d records needing a snapshot", st, common, len(cut))
	}
	sameRecords(t, readDiverged(t, c.File), cut)
	if h := old.EpochHistory(); len(h) != 2 || h[1] != (engine.EpochStart{Epoch: 2, LSN: common + 1}) {
		t.Fatalf("epoch history %+v", h)
	}
}

// TestSnapshotEmptyStandbyWhileActiveWrites: an empty standby of an
// active with a checkpoint gets a snapshot. The transfer is held midway
// while the active serves reads and writes and checkpoints (removing
// files the snapshot is made of); the standby then converges.
func TestSnapshotEmptyStandbyWhileActiveWrites(t *testing.T) {
	ctx := context.Background()
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 60) // several sealed segments
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s := NewSender(active, SenderOptions{Logger: quietLog, SnapshotChunkBytes: 512})
	paused, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.chunkHook = func(file int, off uint64) {
		if file == 2 && off == 0 {
			once.Do(func() { close(paused); <-resume })
		}
	}
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, fastRetry(ReceiverOptions{NodeID: "s1"})))
	r.Follow(ctx, srv.addr, 0)

	select {
	case <-paused:
	case <-testCtx(t).Done():
		t.Fatalf("the snapshot never started: %+v", r.Status())
	}
	st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.State == StateSnapshot && st.Snapshot.Bytes > 0 })
	if err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	if !r.Running() {
		t.Fatal("receiver not running during a snapshot")
	}
	if p := st.Snapshot; p.Bytes >= p.Total || p.Files < 3 || p.LSN == 0 {
		t.Fatalf("progress %+v", p)
	}
	if p, ok := s.Peer("s1"); !ok || p.SnapshotLSN != st.Snapshot.LSN || p.SnapshotTotal != st.Snapshot.Total || p.SnapshotBytes == 0 {
		t.Fatalf("active's view of the peer %+v (%v)", p, ok)
	}
	// The active keeps serving meanwhile, and even drops the collection
	// whose segment files are being sent: its checkpoint deletes them.
	write(t, active, "c", 60, 90)
	if _, err := active.Digest(); err != nil {
		t.Fatal(err)
	}
	if n, err := active.CollectionStats("", "c"); err != nil || n.RowCount == 0 {
		t.Fatalf("stats %+v, %v", n, err)
	}
	cSegs, err := filepath.Glob(filepath.Join(active.DataDir(), "segments", "*.seg"))
	if err != nil || len(cSegs) < 3 {
		t.Fatalf("the active's segment files: %v, %v", cSegs, err)
	}
	if err := active.DropCollection(ctx, "", "c"); err != nil {
		t.Fatal(err)
	}
	createColl(t, active, "c2")
	write(t, active, "c2", 0, 30)
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range cSegs {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("segment file %s of the dropped collection still there: %v", f, err)
		}
	}
	write(t, active, "c2", 30, 35)
	close(resume)

	if st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Snapshots == 1 }); err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, standby)
	if st := r.Status(); st.Snapshots != 1 || !st.Snapshot.Installed || st.Snapshot.Bytes != st.Snapshot.Total || st.State != StateStreaming {
		t.Fatalf("status %+v", st)
	}
	write(t, active, "c2", 35, 40)
	assertConverged(t, active, standby)
}

// TestStandbyBehindRetentionGetsSnapshot: a standby that disconnects is
// kept its records through a checkpoint (WAL pin), and streams on; once
// the WAL it needs exceeds WALRetainBytes, it gets a snapshot.
func TestStandbyBehindRetentionGetsSnapshot(t *testing.T) {
	ctx := context.Background()
	active := openEngineCfg(t, t.TempDir(), func(c *engine.Config) {
		c.WALSegmentBytes = 2 << 10
		c.WALRetainBytes = 16 << 10
	})
	standby := openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 10)
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, fastRetry(ReceiverOptions{NodeID: "s1"})))
	r.Follow(ctx, srv.addr, 0)
	assertConverged(t, active, standby)
	r.Stop()
	if r.Running() {
		t.Fatal("receiver running after Stop")
	}

	// Within retention: the checkpoint keeps what the standby needs.
	write(t, active, "c", 10, 13)
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if f := active.FirstWALLSN(); f > standby.LastLSN()+1 {
		t.Fatalf("the wal starts at %d: the standby's position %d was not retained", f, standby.LastLSN())
	}
	r.Follow(ctx, srv.addr, 0)
	assertConverged(t, active, standby)
	if st := r.Status(); st.Snapshots != 0 {
		t.Fatalf("status %+v: a snapshot although the wal had the records", st)
	}
	r.Stop()

	// Beyond it: truncated anyway, the standby gets a snapshot.
	for i := 13; active.Stats().WALBytes < 48<<10; i++ {
		write(t, active, "c", i*10, i*10+10)
	}
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if f := active.FirstWALLSN(); f <= standby.LastLSN()+1 {
		t.Fatalf("the wal starts at %d: retention kept more than WALRetainBytes", f)
	}
	r.Follow(ctx, srv.addr, 0)
	if st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Snapshots == 1 }); err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, standby)
}

// TestCorruptSnapshotChunkRetried: a chunk whose frame fails its CRC, a
// chunk whose data was corrupted before framing (the file's own CRC fails)
// and a torn chunk frame are each refused; the standby retries and the
// next clean transfer is installed.
func TestCorruptSnapshotChunkRetried(t *testing.T) {
	ctx := context.Background()
	active := openEngine(t, 1)
	dir := t.TempDir()
	standby := openEngineIn(t, dir, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 40)
	if err := active.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s := NewSender(active, SenderOptions{Logger: quietLog, SnapshotChunkBytes: 256})
	var begins, firstChunkOf atomic.Int32
	s.mangle = func(b []byte) []byte {
		switch b[0] {
		case kindSnapshotBegin:
			begins.Add(1)
		case kindSnapshotChunk:
			attempt := begins.Load()
			if firstChunkOf.Swap(attempt) == attempt {
				return b // only the first chunk of each attempt
			}
			switch attempt {
			case 1: // bit flip on the wire
				c := append([]byte(nil), b...)
				c[len(c)/2] ^= 0x10
				return c
			case 2: // corrupt data, valid frame
				f, err := decodeFrame(b)
				if err != nil {
					panic(err)
				}
				f.Chunk.Data[len(f.Chunk.Data)/2] ^= 0x10
				return encodeFrame(f)
			case 3: // torn
				return b[:len(b)-9]
			}
		}
		return b
	}
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, fastRetry(ReceiverOptions{NodeID: "s1"})))
	r.Follow(ctx, srv.addr, 0)
	if st, err := r.WaitStatus(testCtx(t), func(st Status) bool { return st.Snapshots == 1 }); err != nil {
		t.Fatalf("status %+v: %v", st, err)
	}
	assertConverged(t, active, standby)
	if n := begins.Load(); n != 4 {
		t.Fatalf("%d snapshot attempts, want 4", n)
	}
	if st := r.Status(); st.Connects != 4 {
		t.Fatalf("status %+v: want 4 connects", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot.stage")); !os.IsNotExist(err) {
		t.Fatalf("stage left behind: %v", err)
	}
}
