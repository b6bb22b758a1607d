package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-db/tandem/internal/engine"
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
}

// State is what a Receiver reports.
type State int

const (
	StateIdle         State = iota // not following
	StateConnecting                // dialing, or waiting to retry
	StateStreaming                 // receiving records
	StateDiverged                  // the active said Cut; stopped (Status.CutAfter)
	StateNeedSnapshot              // the active said NeedSnapshot; stopped
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
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is a Receiver's state.
type Status struct {
	State    State
	Leader   string // peer address followed
	Epoch    uint64 // highest epoch seen
	CutAfter uint64 // StateDiverged: truncate the log after this LSN
	// SnapshotFrom: StateNeedSnapshot: the active's oldest WAL LSN.
	SnapshotFrom uint64
	// Connects counts streams opened (each Hello sent).
	Connects int
	LastErr  error
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
}

// errStop ends the follow loop without retrying.
var errStop = errors.New("replication: stop following")

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
// at once; the stream reconnects and resumes on errors until Stop, ctx
// ends, or the active answers Cut or NeedSnapshot (see Status).
func (r *Receiver) Follow(ctx context.Context, leader string, epoch uint64) {
	r.Stop()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.mu.Lock()
	r.cancel, r.done = cancel, done
	r.mu.Unlock()
	r.update(func(s *Status) {
		*s = Status{State: StateConnecting, Leader: leader, Epoch: max(epoch, s.Epoch)}
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
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, r.opts.DialOptions...)
	cc, err := grpc.NewClient(leader, opts...)
	if err != nil {
		r.update(func(s *Status) { s.State, s.LastErr = StateIdle, err })
		return
	}
	defer cc.Close()
	backoff := r.opts.MinBackoff
	for ctx.Err() == nil {
		progressed, err := r.session(ctx, cc)
		if errors.Is(err, errStop) || ctx.Err() != nil {
			return
		}
		r.opts.Logger.Warn("replication: stream ended", "leader", leader, "err", err)
		r.update(func(s *Status) { s.State, s.LastErr = StateConnecting, err })
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

// session runs one stream. progressed reports whether records were applied.
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
	err = c.send(&frame{Kind: kindHello, Epoch: seen, Hello: hello{
		Group: r.opts.Group, NodeID: r.opts.NodeID, Epoch: seen,
		LastEpoch: lastEpoch, LastLSN: last, History: r.eng.EpochHistory(),
	}})
	if err != nil {
		return false, err
	}
	r.update(func(s *Status) { s.Connects++; s.Epoch = seen })
	for {
		f, err := c.recv()
		if err != nil {
			return progressed, err
		}
		if f.Epoch < seen {
			return progressed, fmt.Errorf("replication: refused frame of epoch %d: already saw epoch %d", f.Epoch, seen)
		}
		if f.Epoch > seen {
			seen = f.Epoch
			r.update(func(s *Status) { s.Epoch = seen })
		}
		switch f.Kind {
		case kindCut:
			r.update(func(s *Status) { s.State, s.CutAfter = StateDiverged, f.After })
			r.opts.Logger.Warn("replication: log diverges from the active's", "cut_after", f.After, "last_lsn", r.eng.LastLSN())
			return progressed, errStop
		case kindNeedSnapshot:
			r.update(func(s *Status) { s.State, s.SnapshotFrom = StateNeedSnapshot, f.After })
			return progressed, errStop
		case kindRecords:
		default:
			return progressed, fmt.Errorf("replication: unexpected message kind %d", f.Kind)
		}
		if !progressed {
			r.update(func(s *Status) { s.State, s.LastErr = StateStreaming, nil })
		}
		progressed = true
		for _, rec := range f.Records {
			if rec.Epoch > f.Epoch {
				return progressed, fmt.Errorf("replication: record lsn %d of epoch %d in a frame of epoch %d", rec.LSN, rec.Epoch, f.Epoch)
			}
			if rec.LSN <= r.eng.LastLSN() {
				continue // resent after a resume
			}
			if err := r.eng.ApplyRecord(rec); err != nil {
				return progressed, err
			}
		}
		applied := r.eng.LastLSN()
		if err := r.eng.WaitDurable(sctx, applied); err != nil {
			return progressed, err
		}
		if err := c.send(&frame{Kind: kindAck, Epoch: seen, Ack: ack{Durable: r.eng.DurableLSN(), Applied: applied}}); err != nil {
			return progressed, err
		}
	}
}
