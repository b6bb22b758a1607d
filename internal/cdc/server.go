package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/wal"
)

// Service and method names on the peer port.
const (
	serviceName   = "tandem.cdc.ChangeStream"
	subscribeName = "Subscribe"
	subscribePath = "/" + serviceName + "/" + subscribeName
)

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    subscribeName,
		Handler:       func(srv any, ss grpc.ServerStream) error { return srv.(*Server).serve(ss) },
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: "internal/cdc/doc.go",
}

// ServerOptions configures a Server.
type ServerOptions struct {
	// Deployment is the name this deployment serves under (positions are
	// in its log); Group its HA group (a subscriber naming another group
	// is refused); NodeID this node.
	Deployment, Group, NodeID string
	// Commit returns the highest LSN that may be served (committed: a
	// failover of this group cannot lose it), or why this node serves no
	// change stream now (not the active: the subscriber reconnects to
	// the active).
	Commit func() (uint64, error)
	// WaitCommit blocks until Commit reaches lsn, ctx ends, or it cannot
	// tell (an error; the server then retries with a backoff). Event
	// driven waits keep the stream's lag low without polling. Default:
	// with the default Commit, the engine's WaitDurable; with another
	// Commit, none (Commit is polled with a backoff from 1ms to 16ms).
	WaitCommit func(ctx context.Context, lsn uint64) error
	// Heartbeat is the longest time between two messages (default 500ms).
	Heartbeat time.Duration
	// BatchBytes bounds the payload of one message (default 1 MiB).
	BatchBytes int
	// SnapshotBatchRows is the rows per snapshot insert record (default
	// 1024).
	SnapshotBatchRows int
	// RetainAfterDisconnect is how long the WAL from a disconnected
	// subscriber's position is kept (default 10 min; within the engine's
	// WALRetainBytes).
	RetainAfterDisconnect time.Duration
	Logger                *slog.Logger
}

// SubscriberState is a subscriber as the serving side sees it.
type SubscriberState struct {
	Subscriber string    `json:"subscriber"`
	Connected  bool      `json:"connected"`
	Sent       Position  `json:"sent"`
	Acked      Position  `json:"acked"`
	LagRecords uint64    `json:"lag_records"` // commit LSN - acked LSN
	Since      time.Time `json:"since"`
	Snapshots  int       `json:"snapshots"`
}

// Server serves the change stream of one node's engine.
type Server struct {
	eng  *engine.Engine
	opts ServerOptions

	mu   sync.Mutex
	subs map[string]*subState
}

type subState struct {
	st   SubscriberState
	pin  *engine.WALPin
	conn int // connection generation
}

// NewServer returns a change-stream server for eng.
func NewServer(eng *engine.Engine, opts ServerOptions) *Server {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 500 * time.Millisecond
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1 << 20
	}
	if opts.SnapshotBatchRows <= 0 {
		opts.SnapshotBatchRows = 1024
	}
	if opts.RetainAfterDisconnect <= 0 {
		opts.RetainAfterDisconnect = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Commit == nil {
		opts.Commit = func() (uint64, error) { return eng.DurableLSN(), nil }
		if opts.WaitCommit == nil {
			opts.WaitCommit = eng.WaitDurable
		}
	}
	return &Server{eng: eng, opts: opts, subs: map[string]*subState{}}
}

// Register registers the service on s (the node's peer gRPC server).
func (s *Server) Register(g *grpc.Server) { g.RegisterService(&serviceDesc, s) }

// Subscribers returns the subscribers seen, sorted by name.
func (s *Server) Subscribers() []SubscriberState {
	commit, _ := s.opts.Commit()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SubscriberState, 0, len(s.subs))
	for _, st := range s.subs {
		x := st.st
		x.LagRecords = commit - min(commit, x.Acked.LSN)
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b SubscriberState) int {
		if a.Subscriber < b.Subscriber {
			return -1
		}
		if a.Subscriber > b.Subscriber {
			return 1
		}
		return 0
	})
	return out
}

// epochOf returns the epoch of the record at lsn per the history (0
// before the first epoch start).
func epochOf(h []engine.EpochStart, lsn uint64) uint64 {
	var e uint64
	for _, m := range h {
		if m.LSN <= lsn {
			e = m.Epoch
		}
	}
	return e
}

var errStop = errors.New("cdc: stop")

func send(ss grpc.ServerStream, b []byte) error { return ss.SendMsg(wrapperspb.Bytes(b)) }

func (s *Server) serve(ss grpc.ServerStream) error {
	ctx := ss.Context()
	in := new(wrapperspb.BytesValue)
	if err := ss.RecvMsg(in); err != nil {
		return err
	}
	kind, sub, _, err := decodeClient(in.Value)
	if err != nil || kind != kindSubscribe {
		return status.Error(codes.InvalidArgument, "cdc: the first message must be Subscribe")
	}
	if sub.Group != "" && sub.Group != s.opts.Group {
		return status.Errorf(codes.InvalidArgument, "cdc: this node serves group %q, not %q", s.opts.Group, sub.Group)
	}
	if sub.Subscriber == "" {
		sub.Subscriber = "anonymous"
	}
	commit, err := s.opts.Commit()
	if err != nil {
		return status.Errorf(codes.Unavailable, "cdc: node %s serves no change stream now: %v", s.opts.NodeID, err)
	}
	log := s.opts.Logger.With("subscriber", sub.Subscriber)
	hist := s.eng.EpochHistory()
	from := sub.From.LSN
	snap := sub.Flags&flagWantSnapshot != 0 || from == 0
	if !snap && sub.Source != "" && sub.Source != s.opts.Deployment {
		log.Info("cdc: position is in another deployment's log; sending a snapshot", "source", sub.Source, "deployment", s.opts.Deployment)
		snap = true
	}
	if !snap {
		if from > s.eng.LastLSN() {
			return status.Errorf(codes.FailedPrecondition,
				"cdc: position %v is past the end of deployment %s's log (lsn %d): it was not served by this deployment, or this deployment lost records",
				sub.From, s.opts.Deployment, s.eng.LastLSN())
		}
		if e := epochOf(hist, from); e != sub.From.Epoch {
			log.Warn("cdc: position's epoch does not match this log; sending a snapshot", "from", sub.From, "epoch_here", e)
			snap = true
		} else if first := s.eng.FirstWALLSN(); from < s.eng.LastLSN() && (first == 0 || from+1 < first) {
			log.Info("cdc: position is older than WAL retention; sending a snapshot", "from", sub.From, "first_wal_lsn", first)
			snap = true
		}
	}

	// Register the subscriber (one connection at a time per name).
	s.mu.Lock()
	st := s.subs[sub.Subscriber]
	if st == nil {
		st = &subState{st: SubscriberState{Subscriber: sub.Subscriber}, pin: s.eng.PinWAL(from + 1)}
		s.subs[sub.Subscriber] = st
	}
	st.conn++
	gen := st.conn
	st.st.Connected, st.st.Since, st.st.Acked = true, time.Now(), sub.From
	st.pin.Move(from + 1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if st.conn == gen {
			st.st.Connected = false
			st.pin.Expire(s.opts.RetainAfterDisconnect)
		}
		s.mu.Unlock()
	}()
	// Acks.
	go func() {
		m := new(wrapperspb.BytesValue)
		for {
			if err := ss.RecvMsg(m); err != nil {
				return
			}
			k, _, p, err := decodeClient(m.Value)
			if err != nil || k != kindAck {
				return
			}
			s.mu.Lock()
			if st.conn == gen {
				st.st.Acked = p
				st.pin.Move(p.LSN + 1)
			}
			s.mu.Unlock()
		}
	}()
	setSent := func(p Position) {
		s.mu.Lock()
		st.st.Sent = p
		s.mu.Unlock()
	}

	next := from + 1
	if snap {
		ls, err := s.eng.OpenLogicalSnapshot()
		if err != nil {
			return status.Errorf(codes.Unavailable, "cdc: snapshot: %v", err)
		}
		st.pin.Move(ls.LSN + 1)
		// Serve only committed state: wait until the snapshot's LSN is.
		for bo := time.Duration(0); commit < ls.LSN; {
			if err := s.awaitCommit(ctx, ls.LSN, s.opts.Heartbeat, &bo); err != nil {
				return err
			}
			if commit, err = s.opts.Commit(); err != nil {
				return status.Errorf(codes.Unavailable, "cdc: node %s serves no change stream now: %v", s.opts.NodeID, err)
			}
		}
		hist = s.eng.EpochHistory()
		pos := Position{Epoch: epochOf(hist, ls.LSN), LSN: ls.LSN}
		log.Info("cdc: sending a snapshot", "lsn", ls.LSN, "rows", ls.Rows)
		if err := send(ss, encodeHello(Hello{Deployment: s.opts.Deployment, Group: s.opts.Group, Node: s.opts.NodeID,
			Commit: Position{epochOf(hist, commit), commit}, Snapshot: true, SnapshotRows: uint64(ls.Rows), SnapshotLSN: ls.LSN})); err != nil {
			return err
		}
		b := &Batch{Records: []Record{{Position: pos, Type: engine.RecUpstreamReset, Flags: FlagSnapshot, Payload: ls.Catalog}}}
		size := len(ls.Catalog)
		flush := func() error {
			b.Commit, b.Sent = Position{epochOf(hist, commit), commit}, time.Now()
			err := send(ss, encodeBatch(b))
			b.Records, size = b.Records[:0], 0
			return err
		}
		err = ls.Inserts(s.opts.SnapshotBatchRows, func(p []byte, rows int) error {
			b.Records = append(b.Records, Record{Position: pos, Type: engine.RecInsert, Flags: FlagSnapshot, Payload: p})
			if size += len(p); size >= s.opts.BatchBytes {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.Records = append(b.Records, Record{Position: pos, Type: engine.RecUpstreamMark, Flags: FlagSnapshotEnd})
		if err := flush(); err != nil {
			return err
		}
		s.mu.Lock()
		st.st.Snapshots++
		s.mu.Unlock()
		setSent(pos)
		next = ls.LSN + 1
	} else if err := send(ss, encodeHello(Hello{Deployment: s.opts.Deployment, Group: s.opts.Group, Node: s.opts.NodeID,
		Commit: Position{epochOf(hist, commit), commit}})); err != nil {
		return err
	}

	lastSend := time.Now()
	var bo time.Duration // commit-wait backoff (awaitCommit)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		commit, err = s.opts.Commit()
		if err != nil {
			return status.Errorf(codes.Unavailable, "cdc: node %s stopped serving the change stream: %v", s.opts.NodeID, err)
		}
		if commit >= next {
			hist = s.eng.EpochHistory()
			b := &Batch{}
			size := 0
			err := s.eng.IterateWAL(next, func(r wal.Record) error {
				if r.LSN > commit || size >= s.opts.BatchBytes {
					return errStop
				}
				// Positions use the epoch history's epochs (records before
				// the first epoch start, standalone, are epoch 0).
				ep := r.Epoch
				if len(hist) == 0 || hist[0].LSN > r.LSN {
					ep = 0
				}
				rec := Record{Position: Position{ep, r.LSN}, Type: r.Type, Payload: r.Payload}
				if r.Type == engine.RecUpstream {
					_, t, p, err := engine.UnwrapUpstream(r.Payload)
					if err != nil {
						return err
					}
					rec.Type, rec.Payload = t, p
				}
				b.Records = append(b.Records, rec)
				size += len(r.Payload) + 32
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				if errors.Is(err, wal.ErrTruncated) {
					return status.Errorf(codes.Aborted, "cdc: records from lsn %d are no longer in the WAL; reconnect for a snapshot", next)
				}
				return status.Errorf(codes.Internal, "cdc: read wal from %d: %v", next, err)
			}
			if len(b.Records) == 0 {
				return status.Errorf(codes.Internal, "cdc: wal has no record %d (commit %d)", next, commit)
			}
			if b.Records[0].LSN != next {
				return status.Errorf(codes.Internal, "cdc: wal returned lsn %d, want %d", b.Records[0].LSN, next)
			}
			hist = s.eng.EpochHistory()
			b.Commit, b.Sent = Position{epochOf(hist, commit), commit}, time.Now()
			if err := send(ss, encodeBatch(b)); err != nil {
				return err
			}
			last := b.Records[len(b.Records)-1]
			next = last.LSN + 1
			setSent(last.Position)
			lastSend = time.Now()
			bo = 0
			continue
		}
		if time.Since(lastSend) >= s.opts.Heartbeat {
			hist = s.eng.EpochHistory()
			if err := send(ss, encodeBatch(&Batch{Commit: Position{epochOf(hist, commit), commit}, Sent: time.Now()})); err != nil {
				return err
			}
			lastSend = time.Now()
		}
		if s.eng.LastLSN() < next {
			wctx, cancel := context.WithTimeout(ctx, max(time.Millisecond, s.opts.Heartbeat-time.Since(lastSend)))
			_, werr := s.eng.WaitApplied(wctx, next)
			cancel()
			if werr != nil && ctx.Err() == nil && wctx.Err() == nil {
				return status.Errorf(codes.Unavailable, "cdc: %v", werr)
			}
		} else if err := s.awaitCommit(ctx, next, max(time.Millisecond, s.opts.Heartbeat-time.Since(lastSend)), &bo); err != nil {
			// Applied but not committed yet (not durable, or not on the
			// sync standbys yet).
			return err
		}
	}
}

// awaitCommit waits (at most limit) for the commit LSN to reach lsn: with
// WaitCommit when there is one, else (or after WaitCommit failed) by a
// sleep of *bo, which doubles from 1ms up to 16ms; the caller resets *bo
// when the stream moves (a WaitCommit that returns nil again without the
// stream moving backs off too, so a waiter that disagrees with Commit
// cannot make it spin). It returns only ctx's error.
func (s *Server) awaitCommit(ctx context.Context, lsn uint64, limit time.Duration, bo *time.Duration) error {
	if s.opts.WaitCommit != nil {
		wctx, cancel := context.WithTimeout(ctx, limit)
		err := s.opts.WaitCommit(wctx, lsn)
		cancel()
		if wctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && *bo == 0 {
			*bo = 1 // woken: trust it once; waking again without progress backs off
			return nil
		}
	}
	*bo = min(16*time.Millisecond, max(time.Millisecond, 2**bo))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(min(*bo, limit)):
		return nil
	}
}

// String is for logs.
func (h *Hello) String() string {
	return fmt.Sprintf("deployment %s group %s node %s commit %v snapshot %v", h.Deployment, h.Group, h.Node, h.Commit, h.Snapshot)
}
