package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
)

// HTTP/2 settings of the stream's connection (receiving side).
const (
	streamWindowBytes = 32 << 20
	readBufferBytes   = 256 << 10
)

// Defaults for zero ReceiverOptions fields.
const (
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// ReceiverOptions configures a Receiver.
type ReceiverOptions struct {
	Group, NodeID string
	// MinBackoff and MaxBackoff bound the reconnect delay, doubled after
	// each failed attempt and reset once records flow (defaults 50ms, 2s).
	MinBackoff, MaxBackoff time.Duration
	// DialOptions are added to the gRPC dial (default: insecure).
	DialOptions []grpc.DialOption
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// OnLeaderRefused, if set, is called (from the receiver's goroutine)
	// when the stream from leader ended with an error and the leader's
	// peer address then refused two TCP connections in a row
	// (ECONNREFUSED: nothing listens there, the process is gone). The
	// node uses it to end a dead active's lease early.
	OnLeaderRefused func(leader string)
	// Incarnation, if set, returns this node's data dir incarnation; each
	// Hello carries it (the active names sync set members by it).
	Incarnation func() string
	// BeforeReplace, if set, runs before the log is cut ("cut") or
	// replaced by a snapshot ("snapshot"); an error aborts the cut or the
	// install. The node gives its data dir a new incarnation there: the
	// shortened log must not keep the old one's sync set membership.
	BeforeReplace func(what string) error
}

// State is what a Receiver reports.
type State int

const (
	StateIdle         State = iota // not following
	StateConnecting                // dialing, or waiting to retry
	StateStreaming                 // receiving records
	StateDiverged                  // the active said Cut: cutting the log (Status.CutAfter, LastCut), then reconnecting
	StateNeedSnapshot              // the active said NeedSnapshot (or a cut needs one): reconnecting to get a snapshot
	StateSnapshot                  // receiving or installing a snapshot (Status.Snapshot)
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateStreaming:
		return "streaming"
	case StateDiverged:
		return "diverged"
	case StateNeedSnapshot:
		return "need_snapshot"
	case StateSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is a Receiver's state.
type Status struct {
	State    State
	Leader   string // peer address followed
	Epoch    uint64 // highest epoch seen
	CutAfter uint64 // the last Cut received: the log was cut after this LSN
	// SnapshotFrom: the last NeedSnapshot received: the active's oldest
	// WAL LSN.
	SnapshotFrom uint64
	// Connects counts streams opened (each Hello sent).
	Connects int
	LastErr  error

	// Cuts counts the log cuts done (the active said Cut and records were
	// cut); LastCut describes the last one: how many records, their LSNs
	// and the diverged/ file holding them (engine.CutReport).
	Cuts    int
	LastCut engine.CutReport
	// Snapshots counts snapshots installed; Snapshot is the transfer in
	// progress (StateSnapshot) or the last one.
	Snapshots int
	Snapshot  SnapshotProgress
}

// SnapshotProgress is a snapshot transfer's progress.
type SnapshotProgress struct {
	LSN       uint64        `json:"lsn"`       // the snapshot's checkpoint LSN
	Bytes     uint64        `json:"bytes"`     // received so far
	Total     uint64        `json:"total"`     // of all its files
	Files     int           `json:"files"`     // number of files
	Installed bool          `json:"installed"` // received and installed
	Started   time.Time     `json:"started"`
	Took      time.Duration `json:"took_ns,omitempty"` // transfer and install, once Installed
}

// Receiver follows an active's replication stream on a standby.
type Receiver struct {
	eng  *engine.Engine
	opts ReceiverOptions

	mu      sync.Mutex
	st      Status
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	// wantSnapshot: ask the active for a snapshot at the next Hello (it
	// said NeedSnapshot, or a cut needs one). Guarded by mu.
	wantSnapshot bool
	// ackHook, if set (tests, before Follow), sees each streaming Ack
	// before it is sent.
	ackHook func(ack)
	// oldActive: the active refused a Hello carrying an incarnation
	// ("trailing bytes": it predates incarnations); later Hellos omit it.
	// Such an active writes plain sync set entries, which only a legacy
	// incarnation matches (arbiter.SyncSet.Admits). Guarded by mu.
	oldActive bool
}

// errReconnect ends a session that must be reopened at once (after a cut,
// or to ask for a snapshot).
var errReconnect = errors.New("replication: reconnect")

// NewReceiver returns a receiver applying records to eng.
func NewReceiver(eng *engine.Engine, opts ReceiverOptions) *Receiver {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Receiver{eng: eng, opts: opts, changed: make(chan struct{})}
}

// Status returns the current state.
func (r *Receiver) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// WaitStatus blocks until cond(Status()) holds or ctx ends.
func (r *Receiver) WaitStatus(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		r.mu.Lock()
		st, ch := r.st, r.changed
		r.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

func (r *Receiver) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.st)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Follow starts following the active at peer address leader, whose epoch
// is epoch, in the background, replacing any previous Follow. It returns
// at once; the stream reconnects and resumes on errors until Stop or ctx
// ends. When the active answers Cut, the log is cut (engine.CutLog: the
// records past the cut point are saved in DataDir/diverged/ first) and
// the stream reopened; when the standby needs a snapshot, it is received
// and installed (engine.InstallSnapshot) and streaming resumes after it.
func (r *Receiver) Follow(ctx context.Context, leader string, epoch uint64) {
	r.Stop()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.mu.Lock()
	r.cancel, r.done = cancel, done
	r.mu.Unlock()
	r.update(func(s *Status) {
		*s = Status{State: StateConnecting, Leader: leader, Epoch: max(epoch, s.Epoch),
			Cuts: s.Cuts, LastCut: s.LastCut, Snapshots: s.Snapshots, Snapshot: s.Snapshot}
	})
	go func() {
		defer close(done)
		r.loop(ctx, leader)
		r.update(func(s *Status) {
			if s.State == StateConnecting || s.State == StateStreaming {
				s.State = StateIdle
			}
		})
	}()
}

// Running reports whether a Follow loop is running (connecting,
// streaming, cutting the log or receiving a snapshot): it ends only on
// Stop, its context's end, or a failure to set up the client.
func (r *Receiver) Running() bool {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Stop stops following and waits for the stream to end.
func (r *Receiver) Stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// loop connects, streams and reconnects with bounded backoff.
func (r *Receiver) loop(ctx context.Context, leader string) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Records frames are MBs: a fixed HTTP/2 flow-control window of
		// that order lets a frame through in one go (the default starts
		// at 64 KiB and, sized from the round trip, stays small on fast
		// links: a 3 MB frame then waits for dozens of window updates).
		grpc.WithInitialWindowSize(streamWindowBytes), grpc.WithInitialConnWindowSize(streamWindowBytes),
		grpc.WithReadBufferSize(readBufferBytes)}, r.opts.DialOptions...)
	cc, err := grpc.NewClient(leader, opts...)
	if err != nil {
		r.update(func(s *Status) { s.State, s.LastErr = StateIdle, err })
		return
	}
	defer cc.Close()
	backoff := r.opts.MinBackoff
	quick := 0 // reconnects in a row without waiting
	for ctx.Err() == nil {
		progressed, err := r.session(ctx, cc)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReconnect) {
			// At once after a cut or to ask for a snapshot; should the
			// active keep answering so, back off like after an error.
			if progressed {
				quick = 0
			}
			if quick++; quick <= 3 {
				continue
			}
		} else {
			r.opts.Logger.Warn("replication: stream ended", "leader", leader, "err", err)
			r.update(func(s *Status) { s.State, s.LastErr = StateConnecting, err })
			if r.opts.OnLeaderRefused != nil && refusing(ctx, leader) {
				r.opts.Logger.Warn("replication: the active's peer port refuses connections", "leader", leader)
				r.opts.OnLeaderRefused(leader)
			}
		}
		quick = 0
		if progressed {
			backoff = r.opts.MinBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
}

// refusing reports whether addr refused two TCP connections 10ms apart
// (ECONNREFUSED; a timeout, a reset or an accepted connection is not a
// refusal). Closing the accepted connection of a live peer costs it a
// failed handshake, nothing more.
func refusing(ctx context.Context, addr string) bool {
	var d net.Dialer
	for i := range 2 {
		if i > 0 {
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}

// session runs one stream. progressed reports whether records were
// applied (or the log cut, or a snapshot installed).
func (r *Receiver) session(ctx context.Context, cc *grpc.ClientConn) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := openStream(sctx, cc)
	if err != nil {
		return false, err
	}
	seen := r.Status().Epoch
	lastEpoch, _ := r.eng.Position()
	seen = max(seen, lastEpoch)
	last := r.eng.LastLSN()
	// Records applied but not yet fsynced (the last session ended while
	// they were in flight) are not durable: the hello says so apart from
	// the streaming position. A short wait lets a pending fsync complete
	// first, so that a healthy standby counts as caught up at once.
	durable := r.helloDurable(sctx, last)
	r.mu.Lock()
	flags := helloDurable
	if r.wantSnapshot {
		flags |= helloWantSnapshot
	}
	r.mu.Unlock()
	inc := r.incarnation()
	r.mu.Lock()
	sendInc := inc
	if r.oldActive {
		sendInc = ""
	}
	r.mu.Unlock()
	err = c.send(&frame{Kind: kindHello, Epoch: seen, Hello: hello{
		Group: r.opts.Group, NodeID: r.opts.NodeID, Epoch: seen,
		LastEpoch: lastEpoch, LastLSN: last, History: r.eng.EpochHistory(), Flags: flags,
		DurableLSN:  durable,
		Incarnation: sendInc,
	}})
	if err != nil {
		return false, err
	}
	r.update(func(s *Status) { s.Connects++; s.Epoch = seen })
	streaming := false
	// Acks are sent by an acker goroutine as durability advances, while
	// this loop goes on receiving and applying (started with the first
	// Records frame; stopped before anything else is sent).
	var ak *acker
	stopAcks := func() error {
		if ak == nil {
			return nil
		}
		err := ak.stop()
		ak = nil
		return err
	}
	defer stopAcks()
	first := true
	for {
		f, err := r.recvFrame(c, &seen)
		if err != nil {
			if first && sendInc != "" && strings.Contains(err.Error(), "trailing bytes") {
				r.mu.Lock()
				r.oldActive = true
				r.mu.Unlock()
				r.opts.Logger.Warn("replication: the active predates incarnations; sending Hellos without one")
			}
			if aerr := stopAcks(); aerr != nil {
				return progressed, aerr
			}
			return progressed, err
		}
		first = false
		if f.Kind != kindRecords {
			if err := stopAcks(); err != nil {
				return progressed, err
			}
		}
		switch f.Kind {
		case kindCut:
			return progressed, r.cut(f.After)
		case kindNeedSnapshot:
			r.mu.Lock()
			r.wantSnapshot = true
			r.mu.Unlock()
			r.update(func(s *Status) { s.State, s.SnapshotFrom = StateNeedSnapshot, f.After })
			r.opts.Logger.Warn("replication: the active no longer has the records this standby needs; asking for a snapshot",
				"last_lsn", r.eng.LastLSN(), "active_first_lsn", f.After)
			return progressed, errReconnect
		case kindSnapshotBegin:
			if err := r.receiveSnapshot(c, f, &seen, inc); err != nil {
				return progressed, err
			}
			progressed, streaming = true, true
			continue
		case kindRecords:
		default:
			return progressed, fmt.Errorf("replication: unexpected message kind %d", f.Kind)
		}
		if !streaming {
			r.update(func(s *Status) { s.State, s.LastErr = StateStreaming, nil })
			streaming = true
		}
		progressed = true
		for i, rec := range f.Records {
			if rec.Epoch > f.Epoch {
				return progressed, fmt.Errorf("replication: record lsn %d of epoch %d in a frame of epoch %d", rec.LSN, rec.Epoch, f.Epoch)
			}
			if rec.LSN <= r.eng.LastLSN() {
				continue // resent after a resume
			}
			apply := r.eng.ApplyRecord
			if i == len(f.Records)-1 && failpoint.Inject("replication/standby-skip-fsync") == nil {
				// The acker waits for it next: its fsync starts now and
				// runs while it is applied.
				apply = r.eng.ApplyRecordStartSync
			}
			if err := apply(rec); err != nil {
				return progressed, err
			}
		}
		if ak == nil {
			ak = startAcker(sctx, cancel, r.eng, c, r.ackHook)
		}
		ak.kick(seen)
	}
}

// helloSyncWait bounds how long a reconnecting standby waits for its WAL
// to make its applied records durable before its hello.
const helloSyncWait = time.Second

// helloDurable returns the durable LSN to announce in a hello (<= last),
// after waiting up to helloSyncWait for last to be durable.
//
// Failpoint "replication/standby-skip-fsync": while armed (error), the
// standby neither waits for nor asks its WAL for an fsync of the records
// it applies, and its acker sends no Acks: records stay applied but not
// durable (the window of an fsync in flight when a stream breaks).
func (r *Receiver) helloDurable(ctx context.Context, last uint64) uint64 {
	if failpoint.Inject("replication/standby-skip-fsync") == nil {
		wctx, cancel := context.WithTimeout(ctx, helloSyncWait)
		_ = r.eng.WaitDurable(wctx, last) // on timeout: announce what is durable
		cancel()
	}
	return min(r.eng.DurableLSN(), last)
}

// acker sends a standby's Acks during streaming, in its own goroutine, so
// that receiving and applying go on while the WAL fsyncs: it waits until
// everything applied is durable (frames applied meanwhile share the next
// fsync: the WAL's group commit), then acks. An Ack never claims more than
// what is durable in this node's WAL (durable_lsn) and applied (applied_lsn:
// durable_lsn <= applied_lsn).
type acker struct {
	eng    *engine.Engine
	c      conn
	kickCh chan struct{} // capacity 1: records were applied
	epoch  atomic.Uint64 // epoch stamped on Acks (the highest seen)
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed; nil if stopped
	// onAck, if set (tests), sees each Ack before it is sent.
	onAck func(ack)
}

// startAcker starts the acker of a session; failing cancels the session
// (endSession) so that its receive returns.
func startAcker(sctx context.Context, endSession context.CancelFunc, eng *engine.Engine, c conn, onAck func(ack)) *acker {
	ctx, cancel := context.WithCancel(sctx)
	a := &acker{eng: eng, c: c, kickCh: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), onAck: onAck}
	go a.run(ctx, endSession)
	return a
}

// kick says records were applied; seen is the highest epoch seen.
func (a *acker) kick(seen uint64) {
	a.epoch.Store(seen)
	select {
	case a.kickCh <- struct{}{}:
	default:
	}
}

// stop ends the acker and returns why it failed (nil if it did not).
func (a *acker) stop() error {
	a.cancel()
	<-a.done
	return a.err
}

func (a *acker) run(ctx context.Context, endSession context.CancelFunc) {
	defer close(a.done)
	var sentDurable, sentApplied uint64
	for {
		select {
		case <-a.kickCh:
		case <-ctx.Done():
			return
		}
		if failpoint.Inject("replication/standby-skip-fsync") != nil {
			continue
		}
		target := a.eng.LastLSN()
		if err := a.eng.WaitDurable(ctx, target); err != nil {
			if ctx.Err() == nil {
				a.err = err
				endSession()
			}
			return
		}
		// Read applied before durable: both only grow, so durable <=
		// applied holds for what is claimed.
		applied := a.eng.LastLSN()
		durable := min(a.eng.DurableLSN(), applied)
		if durable <= sentDurable && applied <= sentApplied {
			continue
		}
		k := ack{Durable: durable, Applied: applied}
		if a.onAck != nil {
			a.onAck(k)
		}
		if err := a.c.sendBeside(&frame{Kind: kindAck, Epoch: a.epoch.Load(), Ack: k}); err != nil {
			// io.EOF: the active ended the stream; the session's receive
			// gets why.
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				a.err = err
				endSession()
			}
			return
		}
		sentDurable, sentApplied = max(sentDurable, durable), max(sentApplied, applied)
	}
}

// recvFrame receives the next frame and applies the epoch rules to it
// (*seen is the highest epoch seen).
func (r *Receiver) recvFrame(c conn, seen *uint64) (*frame, error) {
	f, err := c.recv()
	if err != nil {
		return nil, err
	}
	if f.Epoch < *seen {
		return nil, fmt.Errorf("replication: refused frame of epoch %d: already saw epoch %d", f.Epoch, *seen)
	}
	if f.Epoch > *seen {
		*seen = f.Epoch
		ep := f.Epoch
		r.update(func(s *Status) { s.Epoch = ep })
	}
	return f, nil
}

// cut handles the active's Cut{after}: the records past after are saved
// in DataDir/diverged/ and cut (or, if this node's checkpoint is past
// after, a snapshot is requested). It returns errReconnect on success.
func (r *Receiver) cut(after uint64) error {
	last := r.eng.LastLSN()
	r.update(func(s *Status) { s.State, s.CutAfter = StateDiverged, after })
	r.opts.Logger.Warn("replication: log diverges from the active's; cutting it", "cut_after", after, "last_lsn", last)
	if err := r.beforeReplace("cut"); err != nil {
		return err
	}
	rep, err := r.eng.CutLog(after)
	if err != nil {
		return fmt.Errorf("replication: cut the log after %d: %w", after, err)
	}
	if rep.NeedSnapshot {
		r.mu.Lock()
		r.wantSnapshot = true
		r.mu.Unlock()
	}
	r.update(func(s *Status) {
		if rep.Count > 0 {
			s.Cuts++
			s.LastCut = rep
		}
		if rep.NeedSnapshot {
			s.State = StateNeedSnapshot
		}
	})
	r.opts.Logger.Warn("replication: diverged records cut from the log and saved",
		"cut_after", after, "records", rep.Count, "first_lsn", rep.First, "last_lsn", rep.Last,
		"saved", rep.Saved, "file", rep.File, "need_snapshot", rep.NeedSnapshot)
	return errReconnect
}

// receiveSnapshot receives the snapshot begun by begin into a stage,
// installs it and acknowledges its LSN.
//
// When the install changed the incarnation (BeforeReplace), it returns
// errReconnect instead of acknowledging: the next Hello names the new
// incarnation, so the active never counts the snapshot under the old one.
func (r *Receiver) receiveSnapshot(c conn, begin *frame, seen *uint64, helloInc string) error {
	b := begin.Begin
	for _, m := range b.History {
		if m.Epoch > begin.Epoch {
			return fmt.Errorf("replication: snapshot history has epoch %d in a frame of epoch %d", m.Epoch, begin.Epoch)
		}
	}
	var sum uint64
	for _, f := range b.Files {
		sum += f.Size
	}
	if sum != b.Total || len(b.Files) == 0 {
		return fmt.Errorf("%w: snapshot of %d files, %d bytes announced, %d listed", errBadFrame, len(b.Files), b.Total, sum)
	}
	start := time.Now()
	r.update(func(s *Status) {
		s.State, s.LastErr = StateSnapshot, nil
		s.Snapshot = SnapshotProgress{LSN: b.LSN, Total: b.Total, Files: len(b.Files), Started: start}
	})
	r.opts.Logger.Info("replication: receiving a snapshot", "lsn", b.LSN, "files", len(b.Files), "bytes", b.Total)
	stage, err := r.eng.StageSnapshot()
	if err != nil {
		return err
	}
	defer stage.Abort()
	cur, nextFile := -1, 0 // the file being written (-1: none), the next to begin
	var off, done uint64   // bytes of cur written; of all files
	for {
		f, err := r.recvFrame(c, seen)
		if err != nil {
			return err
		}
		if f.Kind == kindSnapshotEnd {
			if cur != -1 || nextFile != len(b.Files) || f.After != b.LSN {
				return fmt.Errorf("%w: snapshot ended after %d of %d files, at lsn %d (want %d)", errBadFrame, nextFile, len(b.Files), f.After, b.LSN)
			}
			break
		}
		if f.Kind != kindSnapshotChunk {
			return fmt.Errorf("replication: unexpected message kind %d during a snapshot", f.Kind)
		}
		ch := &f.Chunk
		if cur == -1 {
			if int(ch.File) != nextFile || ch.Offset != 0 || nextFile >= len(b.Files) {
				return fmt.Errorf("%w: snapshot chunk of file %d at %d, want file %d at 0", errBadFrame, ch.File, ch.Offset, nextFile)
			}
			cur, off = nextFile, 0
			nextFile++
			if err := stage.BeginFile(b.Files[cur].Name, int64(b.Files[cur].Size)); err != nil {
				return err
			}
		} else if int(ch.File) != cur || ch.Offset != off {
			return fmt.Errorf("%w: snapshot chunk of file %d at %d, want file %d at %d", errBadFrame, ch.File, ch.Offset, cur, off)
		}
		if err := stage.Write(ch.Data); err != nil {
			return err
		}
		off += uint64(len(ch.Data))
		done += uint64(len(ch.Data))
		r.update(func(s *Status) { s.Snapshot.Bytes = done })
		if off == b.Files[cur].Size {
			if err := stage.EndFile(); err != nil {
				return err
			}
			cur = -1
		}
	}
	if err := r.beforeReplace("snapshot"); err != nil {
		return err
	}
	if err := r.eng.InstallSnapshot(stage, b.LSN); err != nil {
		return fmt.Errorf("replication: install snapshot at lsn %d: %w", b.LSN, err)
	}
	took := time.Since(start)
	r.mu.Lock()
	r.wantSnapshot = false
	r.mu.Unlock()
	r.update(func(s *Status) {
		s.Snapshots++
		s.Snapshot.Installed, s.Snapshot.Took = true, took
		s.State = StateStreaming // records follow from the snapshot's LSN on
	})
	r.opts.Logger.Info("replication: snapshot installed", "lsn", b.LSN, "bytes", b.Total, "took", took,
		"mb_per_s", float64(b.Total)/(1<<20)/max(took.Seconds(), 1e-9))
	if h := r.eng.EpochHistory(); !sameHistory(h, b.History) {
		return fmt.Errorf("replication: installed snapshot's epoch history %v differs from the announced %v", h, b.History)
	}
	if r.incarnation() != helloInc {
		return errReconnect
	}
	if err := c.send(&frame{Kind: kindAck, Epoch: *seen, Ack: ack{Durable: b.LSN, Applied: b.LSN}}); err != nil {
		return err
	}
	return nil
}

// incarnation is this node's incarnation ("" without the option).
func (r *Receiver) incarnation() string {
	if r.opts.Incarnation == nil {
		return ""
	}
	return r.opts.Incarnation()
}

// beforeReplace runs the BeforeReplace option, if set.
func (r *Receiver) beforeReplace(what string) error {
	if r.opts.BeforeReplace == nil {
		return nil
	}
	if err := r.opts.BeforeReplace(what); err != nil {
		return fmt.Errorf("replication: before the %s: %w", what, err)
	}
	return nil
}

func sameHistory(a, b []engine.EpochStart) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
