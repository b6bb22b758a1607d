package cdc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// Applier consumes a subscription.
type Applier interface {
	// Resume returns where to resume: the source deployment the position
	// is in ("" if unknown), the position (zero: snapshot) and whether to
	// force a snapshot. Called before every (re)connect.
	Resume() (source string, from Position, wantSnapshot bool)
	// Apply applies records of deployment source, in order. A snapshot
	// is records with FlagSnapshot, ended by one with FlagSnapshotEnd.
	Apply(ctx context.Context, source string, recs []Record) error
}

// SubscriberOptions configures a Subscriber.
type SubscriberOptions struct {
	Target  Target
	Group   string // the serving group ("" = any)
	Name    string // subscriber name
	Applier Applier
	// Heartbeat is the server's heartbeat interval (for stall detection;
	// default 500ms).
	Heartbeat time.Duration
	Logger    *slog.Logger
	// DialOptions replace the plaintext default of Open (TLS, the change
	// stream credential: package security).
	DialOptions []grpc.DialOption
	// StopOnRefusal makes Run return at once (with an error wrapping
	// ErrRefused) when the peer port refuses the subscription (IsRefusal)
	// instead of retrying: for a one-shot client such as `tandem cdc tail`.
	StopOnRefusal bool
}

// Status is a subscriber's view of its subscription.
type Status struct {
	State   string `json:"state"` // idle, connecting, snapshot, streaming, error
	Source  string `json:"source"`
	Serving string `json:"serving_addr,omitempty"`
	Node    string `json:"serving_node,omitempty"`
	// Applied is the last position applied; Commit the source's commit
	// position as last heard.
	Applied Position `json:"applied"`
	Commit  Position `json:"commit"`
	// LagRecords = Commit.LSN - Applied.LSN; LagSeconds is how long the
	// oldest committed record not applied here has been known, or, when
	// nothing was heard for longer than two heartbeats, the time since
	// the last message (so it rises while the stream stalls even with no
	// writes).
	LagRecords   uint64    `json:"lag_records"`
	LagSeconds   float64   `json:"lag_seconds"`
	LastApplied  time.Time `json:"last_applied"`
	LastContact  time.Time `json:"last_contact"`
	Connects     int       `json:"connects"`
	Snapshots    int       `json:"snapshots"`
	SnapshotRows uint64    `json:"snapshot_rows,omitempty"`
	Records      uint64    `json:"records"`
	LastErr      string    `json:"last_err,omitempty"`
}

// Subscriber keeps a subscription running across failovers: it resolves
// the active, subscribes from Applier.Resume(), applies, and on any error
// reconnects (after a short pause) from the new resume position.
type Subscriber struct {
	opts SubscriberOptions

	mu      sync.Mutex
	st      Status
	pending []pendingMark // commit LSNs heard and when, not yet applied
}

type pendingMark struct {
	lsn uint64
	at  time.Time
}

// NewSubscriber returns a subscriber; Run starts it.
func NewSubscriber(o SubscriberOptions) *Subscriber {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Subscriber{opts: o, st: Status{State: "idle"}}
}

// Status returns the current status (lag computed now).
func (s *Subscriber) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked(time.Now())
}

func (s *Subscriber) statusLocked(now time.Time) Status {
	st := s.st
	st.LagRecords = st.Commit.LSN - min(st.Commit.LSN, st.Applied.LSN)
	var lag time.Duration
	if len(s.pending) > 0 {
		lag = now.Sub(s.pending[0].at)
	}
	if !st.LastContact.IsZero() {
		if quiet := now.Sub(st.LastContact); quiet > 2*s.opts.Heartbeat {
			lag = max(lag, quiet)
		}
	} else if st.State != "idle" {
		lag = max(lag, time.Duration(0))
	}
	st.LagSeconds = lag.Seconds()
	return st
}

func (s *Subscriber) set(f func(st *Status)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

// heard records a message with commit position c.
func (s *Subscriber) heard(c Position, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LastContact = now
	if c.LSN > s.st.Commit.LSN || c.Epoch != s.st.Commit.Epoch {
		s.st.Commit = c
	}
	if c.LSN > s.st.Applied.LSN && (len(s.pending) == 0 || s.pending[len(s.pending)-1].lsn < c.LSN) {
		s.pending = append(s.pending, pendingMark{lsn: c.LSN, at: now})
	}
}

// applied records the applied position.
func (s *Subscriber) applied(p Position, n int, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Applied, s.st.LastApplied = p, now
	s.st.Records += uint64(n)
	i := 0
	for i < len(s.pending) && s.pending[i].lsn <= p.LSN {
		i++
	}
	s.pending = s.pending[i:]
}

// Run subscribes until ctx ends and returns nil; with StopOnRefusal it
// returns as soon as the peer port refuses the subscription, with an
// error wrapping ErrRefused.
func (s *Subscriber) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		addr, err := s.once(ctx)
		if ctx.Err() != nil {
			break
		}
		if s.opts.StopOnRefusal && IsRefusal(err) {
			err = refused(addr, err)
			s.set(func(st *Status) { st.State, st.LastErr = "idle", err.Error() })
			return err
		}
		s.set(func(st *Status) {
			st.State = "error"
			if err != nil {
				st.LastErr = err.Error()
			}
		})
		s.opts.Logger.Warn("cdc: subscription ended; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
		if err == nil {
			backoff = 100 * time.Millisecond
		}
	}
	s.set(func(st *Status) { st.State = "idle" })
	return nil
}

// once runs one subscription; it returns the address it resolved ("" if
// none) and why the subscription ended.
func (s *Subscriber) once(ctx context.Context) (string, error) {
	s.set(func(st *Status) { st.State = "connecting" })
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	addr, err := s.opts.Target.Resolve(rctx)
	cancel()
	if err != nil {
		return "", err
	}
	err = s.stream(ctx, addr)
	return addr, err
}

// stream subscribes at addr and applies until the stream ends.
func (s *Subscriber) stream(ctx context.Context, addr string) error {
	source, from, want := s.opts.Applier.Resume()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The Hello must come within 10s (the stream's own context cannot
	// carry a deadline: it lives as long as the subscription).
	hello := time.AfterFunc(10*time.Second, cancel)
	stream, err := Open(sctx, addr, SubscribeOptions{Group: s.opts.Group, Subscriber: s.opts.Name, Source: source, From: from, WantSnapshot: want, DialOptions: s.opts.DialOptions})
	hello.Stop()
	if err != nil {
		return err
	}
	defer stream.Close()
	h := stream.Hello
	now := time.Now()
	s.set(func(st *Status) {
		st.Connects++
		st.Serving, st.Node, st.Source, st.LastErr = addr, h.Node, h.Deployment, ""
		st.State = "streaming"
		if h.Snapshot {
			st.State, st.SnapshotRows = "snapshot", h.SnapshotRows
			st.Applied = Position{}
		} else if source == h.Deployment || source == "" {
			st.Applied = from
		}
	})
	s.heard(h.Commit, now)
	s.opts.Logger.Info("cdc: subscribed", "addr", addr, "node", h.Node, "deployment", h.Deployment, "from", from, "snapshot", h.Snapshot)
	// A watchdog ends a stream that stays silent for long (a paused or
	// partitioned server): the subscriber then re-resolves the active.
	silent := make(chan struct{}, 1)
	go func() {
		t := time.NewTicker(s.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				s.mu.Lock()
				quiet := time.Since(s.st.LastContact)
				s.mu.Unlock()
				if quiet > 10*s.opts.Heartbeat+3*time.Second {
					silent <- struct{}{}
					cancel()
					return
				}
			}
		}
	}()
	for {
		b, err := stream.Recv()
		if err != nil {
			select {
			case <-silent:
				return context.DeadlineExceeded
			default:
			}
			return err
		}
		now := time.Now()
		s.heard(b.Commit, now)
		if len(b.Records) == 0 {
			continue
		}
		if err := s.opts.Applier.Apply(ctx, h.Deployment, b.Records); err != nil {
			return err
		}
		last := b.Records[len(b.Records)-1]
		snapEnd := last.Flags&FlagSnapshotEnd != 0
		if last.Flags&FlagSnapshot == 0 {
			s.applied(last.Position, len(b.Records), time.Now())
			_ = stream.Ack(last.Position)
		} else {
			s.set(func(st *Status) { st.Records += uint64(len(b.Records)); st.LastApplied = now })
		}
		if snapEnd {
			s.set(func(st *Status) { st.Snapshots++; st.State = "streaming" })
		}
	}
}
