package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/lifecycle"
	"github.com/tandem-db/tandem/internal/wal"
)

// Defaults for zero SenderOptions fields.
const (
	DefaultWindowBytes           = 8 << 20
	DefaultBatchBytes            = 256 << 10
	DefaultSnapshotChunkBytes    = 1 << 20
	DefaultRetainAfterDisconnect = 10 * time.Minute
)

// SenderOptions configures a Sender. Zero fields are defaults.
type SenderOptions struct {
	// Group is the HA group; a Hello for another group is refused.
	// Empty accepts any.
	Group string
	// Epoch returns the active's current epoch (fencing; the node passes
	// its write gate's epoch); 0 refuses every standby as Unavailable
	// (not the active now), which they retry. Default: the epoch of the engine's newest
	// epoch-start record, at least 1 (the engine's default record epoch
	// without a write gate).
	Epoch func() uint64
	// WindowBytes bounds unacknowledged record payload per standby
	// (default 8 MiB); BatchBytes bounds one Records frame (default
	// 256 KiB). A single record larger than either is still sent alone.
	WindowBytes int64
	BatchBytes  int64
	// SnapshotChunkBytes bounds the file data in one snapshot chunk frame
	// (default 1 MiB; keep it well below the gRPC message limit, 4 MiB by
	// default).
	SnapshotChunkBytes int
	// RetainAfterDisconnect is how long the WAL records a standby still
	// needs are kept after its stream ends (default 10 min; negative:
	// not at all). While connected they are always kept, within the
	// engine's Config.WALRetainBytes.
	RetainAfterDisconnect time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// PeerState is what the active knows about one connected standby.
type PeerState struct {
	NodeID     string `json:"node_id"`
	Epoch      uint64 `json:"epoch"`       // epoch the standby follows
	SentLSN    uint64 `json:"sent_lsn"`    // last LSN sent
	DurableLSN uint64 `json:"durable_lsn"` // last acknowledged durable LSN
	AppliedLSN uint64 `json:"applied_lsn"` // last acknowledged applied LSN
	// Snapshot transfer to this standby, while one runs: the checkpoint's
	// LSN, bytes sent and total.
	SnapshotLSN   uint64 `json:"snapshot_lsn,omitempty"`
	SnapshotBytes uint64 `json:"snapshot_bytes,omitempty"`
	SnapshotTotal uint64 `json:"snapshot_total,omitempty"`
	// Snapshots counts snapshots sent on this stream.
	Snapshots int `json:"snapshots,omitempty"`
	// Incarnation is the standby's data dir incarnation, from its Hello
	// ("" from a standby without one).
	Incarnation string `json:"incarnation,omitempty"`
}

// Member is the standby's sync set name: "node@incarnation", or the node
// id alone when it sent no incarnation.
func (p PeerState) Member() string {
	if p.Incarnation == "" {
		return p.NodeID
	}
	return p.NodeID + "@" + p.Incarnation
}

// validIncarnation reports whether s is 16 lowercase hex digits (the
// format of arbiter.ValidIncarnation).
func validIncarnation(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// peerLocked returns the connected standby id names: a node id (whatever
// its incarnation), or a Member name "node@incarnation" (only while that
// node streams at that incarnation). Requires s.mu.
func (s *Sender) peerLocked(id string) (*PeerState, bool) {
	if p, ok := s.peers[id]; ok {
		return p, true
	}
	i := strings.LastIndexByte(id, '@')
	if i <= 0 {
		return nil, false
	}
	p, ok := s.peers[id[:i]]
	if !ok || p.Incarnation == "" || p.Incarnation != id[i+1:] {
		return nil, false
	}
	return p, true
}

// Sender serves the replication stream on the active.
type Sender struct {
	eng  *engine.Engine
	opts SenderOptions

	mu    sync.Mutex
	peers map[string]*PeerState // by node id; connected standbys
	// changed is closed (and replaced) whenever a peer's state changes.
	changed chan struct{}
	// pins hold the WAL from each standby's position (by node id), also
	// for a while after it disconnects.
	pins map[string]*engine.WALPin
	// frames shares encoded Records frames between the streams.
	frames frameCache

	// Test hooks: chunkHook runs before each snapshot chunk is sent;
	// mangle rewrites each encoded frame sent.
	chunkHook func(file int, offset uint64)
	mangle    func(b []byte) []byte

	// ctx is cancelled by Close and ends every stream.
	ctx    context.Context
	cancel context.CancelFunc
	// streams tracks each stream's ack reader; it refuses new ones after
	// Close, and Wait waits for them.
	streams lifecycle.Group
}

// errSenderClosed ends the streams of a closed Sender.
var errSenderClosed = status.Error(codes.Unavailable, "replication: this node stopped serving replication")

// NewSender returns a sender streaming eng's log.
func NewSender(eng *engine.Engine, opts SenderOptions) *Sender {
	if opts.Epoch == nil {
		opts.Epoch = func() uint64 { ep, _ := eng.Position(); return max(ep, 1) }
	}
	if opts.WindowBytes <= 0 {
		opts.WindowBytes = DefaultWindowBytes
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultBatchBytes
	}
	if opts.SnapshotChunkBytes <= 0 {
		opts.SnapshotChunkBytes = DefaultSnapshotChunkBytes
	}
	if opts.RetainAfterDisconnect == 0 {
		opts.RetainAfterDisconnect = DefaultRetainAfterDisconnect
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{eng: eng, opts: opts, peers: map[string]*PeerState{}, changed: make(chan struct{}),
		pins: map[string]*engine.WALPin{}, ctx: ctx, cancel: cancel}
	s.frames.maxBytes = 2 * opts.WindowBytes
	return s
}

// Close ends every stream and refuses new ones (the active stepping down);
// the WAL is no longer retained for its standbys.
func (s *Sender) Close() {
	s.streams.Stop()
	s.cancel()
	s.mu.Lock()
	for id, p := range s.pins {
		p.Release()
		delete(s.pins, id)
	}
	s.mu.Unlock()
}

// Wait blocks until the goroutines of every stream have ended. Call it
// after Close once the gRPC server that serves the streams has stopped
// (Stop ends their RPCs): Close alone does not wait, because a stream
// blocked sending to a standby that stopped reading ends only with its RPC.
func (s *Sender) Wait() { s.streams.Wait() }

// pinFor returns a fresh WAL pin for standby id from lsn on, replacing
// the one kept from its previous stream.
func (s *Sender) pinFor(id string, lsn uint64) *engine.WALPin {
	p := s.eng.PinWAL(lsn)
	s.mu.Lock()
	if old := s.pins[id]; old != nil {
		old.Release()
	}
	s.pins[id] = p
	closed := s.ctx.Err() != nil
	s.mu.Unlock()
	if closed {
		p.Release()
	}
	return p
}

// unpin lets standby id's pin expire after RetainAfterDisconnect.
func (s *Sender) unpin(id string, p *engine.WALPin) {
	if s.opts.RetainAfterDisconnect < 0 {
		p.Release()
		return
	}
	p.Expire(s.opts.RetainAfterDisconnect)
}

// Register registers the replication service on s (the peer server).
func (s *Sender) Register(gs *grpc.Server) { gs.RegisterService(&serviceDesc, s) }

// Peers returns the state of the connected standbys, for the sync set
// logic and status.
func (s *Sender) Peers() []PeerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PeerState, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, *p)
	}
	return out
}

// Peer returns the state of standby id (a node id or a Member name), if
// connected.
func (s *Sender) Peer(id string) (PeerState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.peerLocked(id)
	if !ok {
		return PeerState{}, false
	}
	return *p, true
}

// notifyLocked wakes WaitDurable callers. Requires s.mu.
func (s *Sender) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitDurable blocks until connected standby id has acknowledged lsn as
// durable, or ctx ends (the building block of sync mode). id is a node id
// or a Member name "node@incarnation": then only a stream of that
// incarnation counts.
func (s *Sender) WaitDurable(ctx context.Context, id string, lsn uint64) error {
	for {
		s.mu.Lock()
		p, ok := s.peerLocked(id)
		done := ok && p.DurableLSN >= lsn
		ch := s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("replication: wait for %s durable at %d: %w", id, lsn, ctx.Err())
		}
	}
}

// WaitDurableCount blocks until at least k connected standbys have
// acknowledged lsn as durable, or ctx ends, or the Sender is closed
// (synchronous replication's acknowledgement rule). k <= 0 returns at once.
func (s *Sender) WaitDurableCount(ctx context.Context, k int, lsn uint64) error {
	for {
		s.mu.Lock()
		n := 0
		for _, p := range s.peers {
			if p.DurableLSN >= lsn {
				n++
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if n >= k {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("replication: %d of the %d standbys required have lsn %d durable: %w", n, k, lsn, ctx.Err())
		case <-s.ctx.Done():
			return fmt.Errorf("replication: %d of the %d standbys required have lsn %d durable: %w", n, k, lsn, errSenderClosed)
		}
	}
}

// serve runs one standby's stream.
func (s *Sender) serve(c conn) error {
	if s.ctx.Err() != nil {
		return errSenderClosed
	}
	f, err := c.recv()
	if err != nil {
		return err
	}
	if f.Kind != kindHello {
		return status.Errorf(codes.InvalidArgument, "replication: first message is kind %d, want hello", f.Kind)
	}
	h := f.Hello
	my := s.opts.Epoch()
	switch {
	case my == 0:
		// The node is not (or not yet) the active with writes open.
		return status.Errorf(codes.Unavailable, "replication: this node is not serving as the active now; standby %s should retry", h.NodeID)
	case s.opts.Group != "" && h.Group != s.opts.Group:
		return status.Errorf(codes.FailedPrecondition, "replication: standby of group %q, this is group %q", h.Group, s.opts.Group)
	case f.Epoch > my || h.LastEpoch > my:
		return status.Errorf(codes.FailedPrecondition, "replication: standby %s has seen epoch %d, this active is at epoch %d (stale)", h.NodeID, max(f.Epoch, h.LastEpoch), my)
	case h.Incarnation != "" && !validIncarnation(h.Incarnation):
		return status.Errorf(codes.InvalidArgument, "replication: standby %s sent incarnation %q: want 16 lowercase hex digits", h.NodeID, h.Incarnation)
	}

	if sc, ok := c.(*serverConn); ok {
		sc.mangle = s.mangle
	}
	last := s.eng.LastLSN()
	want := h.Flags&helloWantSnapshot != 0
	if !want {
		if p := DivergencePoint(h.History, h.LastLSN, s.eng.EpochHistory(), last); p < h.LastLSN {
			s.opts.Logger.Warn("replication: standby log diverges", "node", h.NodeID, "standby_lsn", h.LastLSN, "cut_after", p)
			return c.send(&frame{Kind: kindCut, Epoch: my, After: p})
		}
	}
	next := h.LastLSN + 1
	first := s.eng.FirstWALLSN()
	// A snapshot when asked, when the WAL no longer holds the standby's
	// next record, or when the standby is empty and a checkpoint exists.
	snap := want || (next <= last && (first == 0 || next < first)) || (h.LastLSN == 0 && s.eng.CheckpointLSN() > 0)

	pos := h.LastLSN
	// Durable is only what the standby says it has fsynced: its last LSN
	// may include records applied whose fsync never completed (the
	// stream broke meanwhile). A hello without a durable LSN (an older
	// standby) counts nothing as durable until the first Ack.
	durable := uint64(0)
	if h.Flags&helloDurable != 0 {
		durable = min(h.DurableLSN, pos)
	}
	if snap {
		pos, durable = 0, 0 // its log is replaced: none of it counts as durable here
	}
	ps := &PeerState{NodeID: h.NodeID, Epoch: f.Epoch, SentLSN: pos, DurableLSN: durable, AppliedLSN: pos, Incarnation: h.Incarnation}
	s.mu.Lock()
	s.peers[h.NodeID] = ps
	s.notifyLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.peers[h.NodeID] == ps {
			delete(s.peers, h.NodeID)
			s.notifyLocked()
		}
		idle := len(s.peers) == 0
		s.mu.Unlock()
		if idle {
			s.frames.clear() // hold no payloads while no standby streams
		}
	}()
	// Keep the WAL from what the standby would still have after a crash.
	pinFrom := next
	if !snap {
		pinFrom = durable + 1
	}
	pin := s.pinFor(h.NodeID, pinFrom)
	defer s.unpin(h.NodeID, pin)

	ctx, cancel := context.WithCancelCause(c.context())
	defer cancel(nil)
	stopAfter := context.AfterFunc(s.ctx, func() { cancel(errSenderClosed) })
	defer stopAfter()
	st := &stream{s: s, c: c, ps: ps, pin: pin, epoch: my, ackCh: make(chan struct{}, 1)}
	// The ack reader ends when the stream does (after serve returns);
	// Wait awaits it.
	if !s.streams.Go(func() { cancel(st.readAcks()) }) {
		return errSenderClosed
	}
	if snap {
		next, err = st.sendSnapshot(ctx)
	}
	if err == nil {
		err = st.run(ctx, next)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return err
}

// stream is the active's side of one standby stream.
type stream struct {
	s     *Sender
	c     conn
	ps    *PeerState
	pin   *engine.WALPin
	epoch uint64
	ackCh chan struct{} // capacity 1: an ack arrived

	mu       sync.Mutex
	inflight []flight // sent, unacknowledged batches
	bytes    int64
}

type flight struct {
	last  uint64
	bytes int64
}

// readAcks reads Acks until the stream ends.
func (st *stream) readAcks() error {
	for {
		f, err := st.c.recv()
		if err != nil {
			return err
		}
		if f.Kind != kindAck {
			return status.Errorf(codes.InvalidArgument, "replication: unexpected message kind %d", f.Kind)
		}
		if f.Epoch < st.epoch {
			return status.Errorf(codes.FailedPrecondition, "replication: ack from epoch %d, this active is at epoch %d", f.Epoch, st.epoch)
		}
		st.mu.Lock()
		for len(st.inflight) > 0 && st.inflight[0].last <= f.Ack.Applied {
			st.bytes -= st.inflight[0].bytes
			st.inflight = st.inflight[1:]
		}
		st.mu.Unlock()
		st.s.mu.Lock()
		st.ps.DurableLSN = max(st.ps.DurableLSN, f.Ack.Durable)
		st.ps.AppliedLSN = max(st.ps.AppliedLSN, f.Ack.Applied)
		// What the standby would still have after a crash: the pin keeps
		// the WAL from there.
		has := min(st.ps.DurableLSN, st.ps.AppliedLSN)
		st.s.notifyLocked()
		st.s.mu.Unlock()
		st.pin.Move(has + 1)
		select {
		case st.ackCh <- struct{}{}:
		default:
		}
	}
}

// windowFull reports whether no more may be sent until an ack.
func (st *stream) windowFull() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.inflight) > 0 && st.bytes >= st.s.opts.WindowBytes
}

// waitWindow waits until the window has room for a frame.
func (st *stream) waitWindow(ctx context.Context) error {
	for st.windowFull() {
		select {
		case <-st.ackCh:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// run streams records from next on until ctx ends or an error. Records
// come from a LogReader kept for the stream (memory for the recent ones,
// else the WAL files, resuming where it stopped), as Records frames of up
// to BatchBytes shared with the Sender's other streams (frameCache).
func (st *stream) run(ctx context.Context, next uint64) error {
	eng := st.s.eng
	rd := eng.NewLogReader(next)
	defer rd.Close()
	var recs []wal.Record
	build := func(from, limit uint64) (*wireFrame, error) {
		rd.Skip(from)
		if rd.Next() != from {
			return nil, fmt.Errorf("replication: log reader at lsn %d, want %d", rd.Next(), from)
		}
		var err error
		recs, err = rd.Read(recs[:0], limit, st.s.opts.BatchBytes)
		defer clear(recs)
		if len(recs) == 0 {
			return nil, err
		}
		for i, r := range recs {
			if r.LSN != from+uint64(i) {
				return nil, fmt.Errorf("replication: log gave lsn %d, want %d", r.LSN, from+uint64(i))
			}
		}
		return encodeRecords(st.epoch, recs), nil // records before an error are sent first
	}
	for {
		if _, err := eng.WaitApplied(ctx, next); err != nil {
			if c := context.Cause(ctx); c != nil {
				return c
			}
			return status.Errorf(codes.Unavailable, "replication: %v", err)
		}
		for next <= eng.LastLSN() {
			if err := st.waitWindow(ctx); err != nil {
				return err
			}
			fr, err := st.s.frames.get(ctx, st.epoch, next, build)
			if errors.Is(err, wal.ErrTruncated) {
				// Retention removed what this standby still needs.
				return st.c.send(&frame{Kind: kindNeedSnapshot, Epoch: st.epoch, After: eng.FirstWALLSN()})
			}
			if err != nil {
				if c := context.Cause(ctx); c != nil {
					return c
				}
				return err
			}
			if fr == nil {
				// Applied, yet the log gave nothing: do not spin.
				return status.Errorf(codes.Internal, "replication: no record at lsn %d (applied %d)", next, eng.LastLSN())
			}
			if err := st.c.sendWire(fr); err != nil {
				return err
			}
			st.mu.Lock()
			st.inflight = append(st.inflight, flight{last: fr.last, bytes: fr.window})
			st.bytes += fr.window
			st.mu.Unlock()
			st.s.mu.Lock()
			st.ps.SentLSN = fr.last
			st.s.mu.Unlock()
			next = fr.last + 1
		}
	}
}

// frameCache shares encoded Records frames between the streams of a
// Sender: standbys at the same position get the same frame, read and
// encoded once. Frames are kept newest last within maxBytes (of window
// bytes); a stream building a frame others wait for is deduplicated
// (pending), and a stream that is not at a frame boundary builds frames
// that end where the cached ones begin, so streams fall into step.
type frameCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    []*wireFrame
	byKey    map[frameKey]*wireFrame
	pending  map[frameKey]chan struct{}
	// builds and hits count frames encoded and frames reused (tests).
	builds, hits int
}

type frameKey struct{ epoch, first uint64 }

// get returns the frame of records from next on at epoch: a cached one,
// or build(next, limit)'s, which must start at next and end at or before
// limit. A nil frame (with build's error, if any) means nothing to send.
func (fc *frameCache) get(ctx context.Context, epoch, next uint64, build func(from, limit uint64) (*wireFrame, error)) (*wireFrame, error) {
	key := frameKey{epoch, next}
	for {
		fc.mu.Lock()
		if fr := fc.byKey[key]; fr != nil {
			fc.hits++
			fc.mu.Unlock()
			return fr, nil
		}
		if ch := fc.pending[key]; ch != nil {
			fc.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		limit := uint64(math.MaxUint64)
		for _, fr := range fc.order {
			if fr.epoch == epoch && fr.first > next && fr.first-1 < limit {
				limit = fr.first - 1
			}
		}
		ch := make(chan struct{})
		if fc.pending == nil {
			fc.pending = map[frameKey]chan struct{}{}
			fc.byKey = map[frameKey]*wireFrame{}
		}
		fc.pending[key] = ch
		fc.mu.Unlock()

		fr, err := build(next, limit)

		fc.mu.Lock()
		delete(fc.pending, key)
		close(ch)
		if fr != nil {
			fc.builds++
			fc.addLocked(fr)
		}
		fc.mu.Unlock()
		return fr, err
	}
}

// clear drops every cached frame.
func (fc *frameCache) clear() {
	fc.mu.Lock()
	clear(fc.order)
	fc.order, fc.bytes = fc.order[:0], 0
	clear(fc.byKey)
	fc.mu.Unlock()
}

// addLocked caches fr and drops the oldest frames beyond the bound.
func (fc *frameCache) addLocked(fr *wireFrame) {
	key := frameKey{fr.epoch, fr.first}
	if old := fc.byKey[key]; old != nil {
		return
	}
	fc.byKey[key] = fr
	fc.order = append(fc.order, fr)
	fc.bytes += fr.window
	for len(fc.order) > 1 && (fc.bytes > fc.maxBytes || len(fc.order) > maxCachedFrames) {
		old := fc.order[0]
		fc.order[0] = nil
		fc.order = fc.order[1:]
		fc.bytes -= old.window
		delete(fc.byKey, frameKey{old.epoch, old.first})
	}
}

// maxCachedFrames bounds the frames a frameCache keeps.
const maxCachedFrames = 256

// sendSnapshot sends a checkpoint's files (SnapshotBegin, chunks,
// SnapshotEnd) and returns the LSN to stream records from.
func (st *stream) sendSnapshot(ctx context.Context) (uint64, error) {
	s := st.s
	start := time.Now()
	snap, err := s.eng.OpenSnapshot(ctx)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			return 0, c
		}
		return 0, status.Errorf(codes.Unavailable, "replication: snapshot: %v", err)
	}
	defer snap.Close()
	st.pin.Move(snap.LSN + 1)
	total := uint64(snap.TotalBytes())
	b := snapBegin{LSN: snap.LSN, Total: total, History: snap.Epochs}
	for _, f := range snap.Files {
		b.Files = append(b.Files, snapFile{Name: f.Name, Size: uint64(f.Size)})
	}
	s.mu.Lock()
	st.ps.SnapshotLSN, st.ps.SnapshotBytes, st.ps.SnapshotTotal = snap.LSN, 0, total
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		st.ps.SnapshotLSN, st.ps.SnapshotBytes, st.ps.SnapshotTotal = 0, 0, 0
		s.mu.Unlock()
	}()
	s.opts.Logger.Info("replication: sending a snapshot", "node", st.ps.NodeID, "lsn", snap.LSN, "files", len(snap.Files), "bytes", total)
	if err := st.c.send(&frame{Kind: kindSnapshotBegin, Epoch: st.epoch, Begin: b}); err != nil {
		return 0, err
	}
	buf := make([]byte, s.opts.SnapshotChunkBytes)
	var sent uint64
	for i := range snap.Files {
		if err := st.sendFile(ctx, snap, i, buf, &sent); err != nil {
			return 0, err
		}
	}
	if err := st.c.send(&frame{Kind: kindSnapshotEnd, Epoch: st.epoch, After: snap.LSN}); err != nil {
		return 0, err
	}
	took := time.Since(start)
	s.mu.Lock()
	st.ps.Snapshots++
	s.mu.Unlock()
	s.opts.Logger.Info("replication: snapshot sent", "node", st.ps.NodeID, "lsn", snap.LSN, "bytes", total,
		"took", took, "mb_per_s", float64(total)/(1<<20)/max(took.Seconds(), 1e-9))
	return snap.LSN + 1, nil
}

// sendFile sends file i of snap in chunks.
func (st *stream) sendFile(ctx context.Context, snap *engine.Snapshot, i int, buf []byte, sent *uint64) error {
	f, err := snap.Open(i)
	if err != nil {
		return status.Errorf(codes.Unavailable, "replication: snapshot: %v", err)
	}
	defer f.Close()
	var off uint64
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if err := context.Cause(ctx); err != nil {
				return err
			}
			if h := st.s.chunkHook; h != nil {
				h(i, off)
			}
			if err := st.c.send(&frame{Kind: kindSnapshotChunk, Epoch: st.epoch, Chunk: snapChunk{File: uint32(i), Offset: off, Data: buf[:n]}}); err != nil {
				return err
			}
			off += uint64(n)
			*sent += uint64(n)
			st.s.mu.Lock()
			st.ps.SnapshotBytes = *sent
			st.s.mu.Unlock()
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return status.Errorf(codes.Unavailable, "replication: snapshot: read %s: %v", snap.Files[i].Name, rerr)
		}
	}
	if off != uint64(snap.Files[i].Size) {
		return status.Errorf(codes.Internal, "replication: snapshot file %s: read %d bytes, want %d", snap.Files[i].Name, off, snap.Files[i].Size)
	}
	return nil
}
