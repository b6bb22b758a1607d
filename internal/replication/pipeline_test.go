package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"unsafe"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/wal"
)

// TestRecordsFrameLayout: a Records frame sent in pieces (large payloads
// as their own piece, not copied) equals its flat form, decodes back, and
// every payload starts 8-aligned from the frame's start (decoded in place).
func TestRecordsFrameLayout(t *testing.T) {
	var recs []wal.Record
	for i, n := range []int{0, 1, 7, 100, inlinePayloadBytes, inlinePayloadBytes + 1, 3, 200 << 10, 5} {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		recs = append(recs, wal.Record{Epoch: uint64(1 + i%2), LSN: uint64(10 + i), Type: wal.RecordType(i), Payload: p})
	}
	w := encodeRecords(7, recs)
	if w.first != 10 || w.last != uint64(10+len(recs)-1) || w.epoch != 7 {
		t.Fatalf("frame covers %d..%d at epoch %d", w.first, w.last, w.epoch)
	}
	large := 0
	for _, p := range w.parts {
		for _, r := range recs {
			if len(r.Payload) > inlinePayloadBytes && len(p) == len(r.Payload) && &p[0] == &r.Payload[0] {
				large++
			}
		}
	}
	if large != 2 {
		t.Fatalf("%d large payloads sent in place, want 2", large)
	}
	b := w.bytes()
	if len(b) != w.size {
		t.Fatalf("size %d, flat %d", w.size, len(b))
	}
	if !bytes.Equal(b, encodeFrame(&frame{Kind: kindRecords, Epoch: 7, Records: recs})) {
		t.Fatal("encodeFrame differs from encodeRecords")
	}
	f, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Records) != len(recs) || f.Epoch != 7 {
		t.Fatalf("decoded %d records at epoch %d", len(f.Records), f.Epoch)
	}
	base := uintptr(unsafe.Pointer(&b[0]))
	for i, r := range f.Records {
		want := recs[i]
		if r.Epoch != want.Epoch || r.LSN != want.LSN || r.Type != want.Type || !bytes.Equal(r.Payload, want.Payload) {
			t.Fatalf("record %d differs", i)
		}
		if len(r.Payload) > 0 {
			if off := uintptr(unsafe.Pointer(&r.Payload[0])) - base; off%8 != 0 {
				t.Fatalf("record %d: payload at frame offset %d, not 8-aligned", i, off)
			}
			if cap(r.Payload) != len(r.Payload) {
				t.Fatalf("record %d: payload capacity runs into the next bytes", i)
			}
		}
	}
	// Nonzero padding is refused (a bad frame even with a good CRC).
	f2 := &frame{Kind: kindRecords, Epoch: 1, Records: []wal.Record{{LSN: 1, Payload: []byte("x")}}}
	c := encodeFrame(f2)
	c[1+8+4+21] = 1 // first padding byte
	body := c[:len(c)-4]
	c = binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, fileutil.CastagnoliTable))
	if _, err := decodeFrame(c); err == nil {
		t.Fatal("nonzero padding accepted")
	}
}

// TestFrameCacheSharesAndAligns: a frame built by one stream is handed to
// the next stream at the same position; a stream between frame boundaries
// builds up to the next cached frame; old frames are dropped.
func TestFrameCacheSharesAndAligns(t *testing.T) {
	fc := frameCache{maxBytes: 10 * 1032}
	mk := func(from, limit uint64, n uint64) (*wireFrame, error) {
		last := min(from+n-1, limit)
		var recs []wal.Record
		for l := from; l <= last; l++ {
			recs = append(recs, wal.Record{LSN: l, Payload: make([]byte, 1000)})
		}
		return encodeRecords(3, recs), nil
	}
	ctx := testCtx(t)
	var built []string
	build := func(n uint64) func(from, limit uint64) (*wireFrame, error) {
		return func(from, limit uint64) (*wireFrame, error) {
			built = append(built, fmt.Sprintf("%d-%d", from, limit))
			return mk(from, limit, n)
		}
	}
	a, _ := fc.get(ctx, 3, 1, build(4)) // 1..4
	b, _ := fc.get(ctx, 3, 1, build(4)) // shared
	if a != b || fc.builds != 1 || fc.hits != 1 {
		t.Fatalf("second stream at 1: frame %p vs %p, builds %d hits %d", a, b, fc.builds, fc.hits)
	}
	fc.get(ctx, 3, 5, build(4))         // 5..8
	c, _ := fc.get(ctx, 3, 3, build(4)) // a stream at 3 builds 3..4 only
	if c.first != 3 || c.last != 4 {
		t.Fatalf("stream at 3 got %d..%d, want 3..4 (up to the cached frame at 5)", c.first, c.last)
	}
	if d, _ := fc.get(ctx, 3, 5, build(4)); d.first != 5 || fc.hits != 2 {
		t.Fatalf("then at 5: frame %d.., hits %d", d.first, fc.hits)
	}
	if e, _ := fc.get(ctx, 4, 5, build(4)); e == nil || fc.hits != 2 {
		t.Fatal("another epoch shared a frame")
	}
	if fmt.Sprint(built) != fmt.Sprint([]string{"1-18446744073709551615", "5-18446744073709551615", "3-4", "5-18446744073709551615"}) {
		t.Fatalf("builds %v", built)
	}
	// Bounded: the oldest frames go.
	for from := uint64(100); from < 200; from += 4 {
		fc.get(ctx, 3, from, build(4))
	}
	if fc.bytes > fc.maxBytes || len(fc.order) != len(fc.byKey) {
		t.Fatalf("cache holds %d bytes (max %d), %d frames, %d keys", fc.bytes, fc.maxBytes, len(fc.order), len(fc.byKey))
	}
	if _, ok := fc.byKey[frameKey{3, 1}]; ok {
		t.Fatal("oldest frame still cached")
	}
	// Concurrent streams at one position build once.
	fc2 := frameCache{maxBytes: 1 << 20}
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc2.get(ctx, 3, 1, func(from, limit uint64) (*wireFrame, error) {
				mu.Lock()
				n++
				mu.Unlock()
				return mk(from, limit, 2)
			})
		}()
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("%d builds for one position", n)
	}
}

// TestAcksNeverAheadOfDurability streams with a pipelined standby and
// checks every Ack when it is sent: durable_lsn is durable in the
// standby's WAL and <= applied_lsn, which is applied. Several frames are
// in flight at once, so acks cover more than one frame (a shared fsync).
func TestAcksNeverAheadOfDurability(t *testing.T) {
	active, standby := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	s := NewSender(active, SenderOptions{Logger: quietLog, BatchBytes: 256})
	srv := startServer(t, s, "")
	r := NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog})
	var mu sync.Mutex
	var acks []ack
	var bad []string
	r.ackHook = func(k ack) {
		d, a := standby.DurableLSN(), standby.LastLSN()
		mu.Lock()
		defer mu.Unlock()
		if k.Durable > d || k.Applied > a || k.Durable > k.Applied {
			bad = append(bad, fmt.Sprintf("ack %+v with durable %d, applied %d", k, d, a))
		}
		if n := len(acks); n > 0 && (k.Durable < acks[n-1].Durable || k.Applied < acks[n-1].Applied) {
			bad = append(bad, fmt.Sprintf("ack %+v after %+v", k, acks[n-1]))
		}
		acks = append(acks, k)
	}
	newReceiver(t, r)
	r.Follow(context.Background(), srv.addr, 0)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			write(t, active, "c", w*1000, w*1000+40)
		}()
	}
	wg.Wait()
	assertConverged(t, active, standby)
	if err := s.WaitDurable(testCtx(t), "s1", active.LastLSN()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d bad acks, first: %s", len(bad), bad[0])
	}
	if last := acks[len(acks)-1]; last.Durable != active.LastLSN() || last.Applied != active.LastLSN() {
		t.Fatalf("last ack %+v, want both at %d", last, active.LastLSN())
	}
	if p, _ := s.Peer("s1"); p.DurableLSN > standby.DurableLSN() {
		t.Fatalf("active thinks %d durable, standby has %d", p.DurableLSN, standby.DurableLSN())
	}
}

// TestLargeRecordReplicates: a record larger than gRPC's default message
// limit (4 MiB) still replicates (one record per frame, however large).
func TestLargeRecordReplicates(t *testing.T) {
	ctx := context.Background()
	open := func() *engine.Engine {
		e, err := engine.Open(engine.Config{DataDir: t.TempDir(), Epoch: 1, Logger: quietLog, SegmentMaxRows: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	active, standby := open(), open()
	createColl(t, active, "c")
	s := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(t, s, "")
	r := newReceiver(t, NewReceiver(standby, ReceiverOptions{NodeID: "s1", Logger: quietLog}))
	r.Follow(ctx, srv.addr, 0)
	const n = 160 << 10 // rows of 4 floats + 2 ints: ~5 MiB
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	if _, err := active.Insert(ctx, "", "c", "", rows(ids, 1), n); err != nil {
		t.Fatal(err)
	}
	write(t, active, "c", 0, 3)
	assertConverged(t, active, standby)
}

// TestStreamFromFilesThenMemory: a standby far behind reads the old
// records from the WAL files (the active keeps only the newest in memory)
// and then from memory, and two standbys tailing together share frames.
func TestStreamFromFilesThenMemory(t *testing.T) {
	active, err := engine.Open(engine.Config{DataDir: t.TempDir(), Epoch: 1, Logger: quietLog, SegmentMaxRows: 64,
		RecentLogBytes: 4 << 10, WALSegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { active.Close() })
	sb1, sb2 := openEngine(t, 1), openEngine(t, 1)
	createColl(t, active, "c")
	write(t, active, "c", 0, 60)
	s := NewSender(active, SenderOptions{Logger: quietLog, BatchBytes: 1 << 10})
	srv := startServer(t, s, "")
	for i, e := range []*engine.Engine{sb1, sb2} {
		r := newReceiver(t, NewReceiver(e, ReceiverOptions{NodeID: fmt.Sprint("s", i), Logger: quietLog}))
		r.Follow(context.Background(), srv.addr, 0)
	}
	assertConverged(t, active, sb1)
	assertConverged(t, active, sb2)
	s.frames.mu.Lock()
	builds0, hits0 := s.frames.builds, s.frames.hits
	s.frames.mu.Unlock()
	// Tailing in lockstep: one record at a time, both standbys durable
	// before the next.
	const n = 20
	for i := range n {
		write(t, active, "c", 100+i, 101+i)
		if err := s.WaitDurableCount(testCtx(t), 2, active.LastLSN()); err != nil {
			t.Fatal(err)
		}
	}
	assertConverged(t, active, sb1)
	assertConverged(t, active, sb2)
	s.frames.mu.Lock()
	builds, hits := s.frames.builds-builds0, s.frames.hits-hits0
	s.frames.mu.Unlock()
	if hits < builds/2 || builds > 2*n {
		t.Fatalf("tailing: %d frames built, %d shared", builds, hits)
	}
}
