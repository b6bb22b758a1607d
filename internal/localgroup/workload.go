package localgroup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	milvuslog "github.com/milvus-io/milvus/pkg/v2/log"
	"go.uber.org/zap/zapcore"
)

// Op is one client call made by a Load.
type Op struct {
	Kind       string // "upsert" or "search"
	Start, End time.Time
	Err        error
	// Upserts: the rows' ids are FirstID .. FirstID+N-1.
	FirstID int64
	N       int
}

// OK reports whether the call succeeded.
func (o Op) OK() bool { return o.Err == nil }

// ClientSource hands out the Milvus client a Load uses for its next call.
type ClientSource interface {
	// Get returns a client (dialing if needed).
	Get(ctx context.Context) (*milvusclient.Client, error)
	// Failed is told that a call on c failed.
	Failed(c *milvusclient.Client)
	// Close closes the clients.
	Close()
}

// DialTimeout bounds connecting a client (the SDK blocks until connected).
const DialTimeout = time.Second

func dial(ctx context.Context, addr string) (*milvusclient.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	return milvusclient.New(dctx, &milvusclient.ClientConfig{Address: addr})
}

// fixedSource is one client to one address (a proxy), kept across
// errors: the proxy itself follows the active.
type fixedSource struct {
	addr string
	mu   sync.Mutex
	c    *milvusclient.Client
}

// FixedAddr returns a source of one client to addr, kept across errors.
func FixedAddr(addr string) ClientSource { return &fixedSource{addr: addr} }

func (s *fixedSource) Get(ctx context.Context) (*milvusclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		c, err := dial(ctx, s.addr)
		if err != nil {
			return nil, err
		}
		s.c = c
	}
	return s.c, nil
}

func (s *fixedSource) Failed(*milvusclient.Client) {}

func (s *fixedSource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close(context.Background())
		s.c = nil
	}
}

// leaderSource connects to whichever node the arbiter shows as the
// leader, and re-resolves after a failed call: what a client without a
// proxy has to do.
type leaderSource struct {
	c    *Cluster
	mu   sync.Mutex
	cl   *milvusclient.Client
	addr string
}

// LeaderClient returns a source that connects directly to the group's
// current active (as the arbiter shows it) and looks it up again after a
// failed call.
func (c *Cluster) LeaderClient() ClientSource { return &leaderSource{c: c} }

func (s *leaderSource) Get(ctx context.Context) (*milvusclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		return s.cl, nil
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	st, err := s.c.Status(sctx)
	cancel()
	if err != nil {
		return nil, err
	}
	if st.LeaderAddr == "" {
		return nil, errors.New("no active in the group")
	}
	// A plain TCP connect first: the SDK's dial blocks until its deadline
	// on a refused port (a dead active whose lease has not expired yet),
	// while a refusal here returns at once and the next call looks again.
	var d net.Dialer
	pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	conn, err := d.DialContext(pctx, "tcp", st.LeaderAddr)
	pcancel()
	if err != nil {
		return nil, fmt.Errorf("active %s (%s): %w", st.Leader, st.LeaderAddr, err)
	}
	conn.Close()
	cl, err := dial(ctx, st.LeaderAddr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", st.Leader, st.LeaderAddr, err)
	}
	s.cl, s.addr = cl, st.LeaderAddr
	return cl, nil
}

func (s *leaderSource) Failed(c *milvusclient.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == c && c != nil {
		s.cl.Close(context.Background())
		s.cl = nil
	}
}

func (s *leaderSource) Close() { s.Failed(s.cl) }

// LoadConfig configures a Load.
type LoadConfig struct {
	Collection string
	Field      string // vector field (default "vec"); the primary key is "id"
	Dim        int
	// Upserts: rows per call (default 10), first id, and each row's vector.
	Batch   int
	FirstID int64
	Vector  func(id int64) []float32
	// Searches: top k (default 10) and the i-th query vector.
	TopK  int
	Query func(i int) []float32
	// Timeout bounds each call (default 3s); Pause separates calls
	// (default 0); RetryPause follows a failed call (default 20ms).
	Timeout, Pause, RetryPause time.Duration
}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Field == "" {
		c.Field = "vec"
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.TopK <= 0 {
		c.TopK = 10
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.RetryPause <= 0 {
		c.RetryPause = 20 * time.Millisecond
	}
	return c
}

// Load is one client loop (upserts or searches) running until Halt,
// recording every call.
type Load struct {
	kind    string
	mu      sync.Mutex
	ops     []Op
	changed chan struct{}
	stop    chan struct{}
	halt    sync.Once
	done    chan struct{}
}

func newLoad(ctx context.Context, kind string, body func(ctx context.Context, l *Load)) *Load {
	l := &Load{kind: kind, changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		body(ctx, l)
	}()
	return l
}

// running reports whether the loop should make another call.
func (l *Load) running(ctx context.Context) bool {
	select {
	case <-l.stop:
		return false
	case <-ctx.Done():
		return false
	default:
		return true
	}
}

func (l *Load) record(op Op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
	close(l.changed)
	l.changed = make(chan struct{})
}

// StartUpserts runs one loop of upserts of cfg.Batch new rows each (ids
// from cfg.FirstID up, never reused) through src until Halt or ctx ends.
func StartUpserts(ctx context.Context, src ClientSource, cfg LoadConfig) *Load {
	cfg = cfg.withDefaults()
	return newLoad(ctx, "upsert", func(ctx context.Context, l *Load) {
		next := cfg.FirstID
		for l.running(ctx) {
			ids := make([]int64, cfg.Batch)
			vecs := make([][]float32, cfg.Batch)
			for i := range ids {
				ids[i] = next + int64(i)
				vecs[i] = cfg.Vector(ids[i])
			}
			op := Op{Kind: "upsert", Start: time.Now(), FirstID: next, N: cfg.Batch}
			next += int64(cfg.Batch)
			cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			cl, err := src.Get(cctx)
			if err == nil {
				var res milvusclient.UpsertResult
				res, err = cl.Upsert(cctx, milvusclient.NewColumnBasedInsertOption(cfg.Collection).
					WithInt64Column("id", ids).WithFloatVectorColumn(cfg.Field, cfg.Dim, vecs))
				if err == nil && res.UpsertCount != int64(cfg.Batch) {
					err = fmt.Errorf("upsert count %d, want %d", res.UpsertCount, cfg.Batch)
				}
				if err != nil {
					src.Failed(cl)
				}
			}
			cancel()
			op.End, op.Err = time.Now(), err
			if ctx.Err() != nil && err != nil {
				return // cancelled mid-call: not a failure of the system
			}
			l.record(op)
			l.pace(ctx, cfg, err)
		}
	})
}

// StartSearches runs one loop of searches (nq=1) through src until Halt
// or ctx ends.
func StartSearches(ctx context.Context, src ClientSource, cfg LoadConfig) *Load {
	cfg = cfg.withDefaults()
	return newLoad(ctx, "search", func(ctx context.Context, l *Load) {
		for i := 0; l.running(ctx); i++ {
			op := Op{Kind: "search", Start: time.Now()}
			cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			cl, err := src.Get(cctx)
			if err == nil {
				_, err = cl.Search(cctx, milvusclient.NewSearchOption(cfg.Collection, cfg.TopK,
					[]entity.Vector{entity.FloatVector(cfg.Query(i))}).WithANNSField(cfg.Field))
				if err != nil {
					src.Failed(cl)
				}
			}
			cancel()
			op.End, op.Err = time.Now(), err
			if ctx.Err() != nil && err != nil {
				return
			}
			l.record(op)
			l.pace(ctx, cfg, err)
		}
	})
}

func (l *Load) pace(ctx context.Context, cfg LoadConfig, err error) {
	d := cfg.Pause
	if err != nil {
		d = cfg.RetryPause
	}
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-l.stop:
	case <-time.After(d):
	}
}

// Ops returns a snapshot of the calls made so far.
func (l *Load) Ops() []Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// Halt stops the loop after the call in progress (bounded by the call
// timeout) and returns every call it made. It may be called again.
func (l *Load) Halt() []Op {
	l.halt.Do(func() { close(l.stop) })
	<-l.done
	return l.Ops()
}

// AwaitOK waits until n calls that started after t have succeeded.
func (l *Load) AwaitOK(ctx context.Context, n int, after time.Time) error {
	for {
		l.mu.Lock()
		got := 0
		for _, op := range l.ops {
			if op.OK() && op.Start.After(after) {
				got++
			}
		}
		ch := l.changed
		var lastErr error
		if k := len(l.ops); k > 0 {
			lastErr = l.ops[k-1].Err
		}
		l.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d %ss succeeded (last error: %v): %w", got, n, l.kind, lastErr, context.Cause(ctx))
		case <-l.done:
			return fmt.Errorf("%s loop stopped", l.kind)
		case <-ch:
		}
	}
}

// AckedIDs returns the ids of every row in a successful upsert in ops.
func AckedIDs(ops []Op) []int64 {
	var ids []int64
	for _, op := range ops {
		if op.Kind == "upsert" && op.OK() {
			for i := 0; i < op.N; i++ {
				ids = append(ids, op.FirstID+int64(i))
			}
		}
	}
	return ids
}

// Count returns how many calls of kind in ops succeeded and failed.
func Count(ops []Op, kind string) (ok, failed int) {
	for _, op := range ops {
		if op.Kind != kind {
			continue
		}
		if op.OK() {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

// okEnds returns the completion times of the successful calls of kind,
// sorted.
func okEnds(ops []Op, kind string) []time.Time {
	var ends []time.Time
	for _, op := range ops {
		if op.Kind == kind && op.OK() {
			ends = append(ends, op.End)
		}
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	return ends
}

// LongestGap is the longest time between consecutive successful
// completions of calls of kind, over the gaps that overlap [from, to]
// (zero times: unbounded): how long a client saw that kind of call not
// succeed. It also returns when that gap started.
func LongestGap(ops []Op, kind string, from, to time.Time) (time.Duration, time.Time) {
	ends := okEnds(ops, kind)
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(ends); i++ {
		if !from.IsZero() && !ends[i].After(from) {
			continue
		}
		if !to.IsZero() && !ends[i-1].Before(to) {
			break
		}
		if d := ends[i].Sub(ends[i-1]); d > gap {
			gap, at = d, ends[i-1]
		}
	}
	return gap, at
}

// FirstOKAfter returns when the first call of kind that succeeded after a
// process was killed completed. killed is when the kill was sent, dead
// when the process was known to be gone. A call counts if it started
// after dead, or completed more than grace after dead: a call that the
// old process answered in its last moment completes within grace of its
// death, while one held or retried until a new active answered completes
// much later.
func FirstOKAfter(ops []Op, kind string, dead time.Time, grace time.Duration) (time.Time, bool) {
	var first time.Time
	for _, op := range ops {
		if op.Kind != kind || !op.OK() {
			continue
		}
		if !op.Start.After(dead) && !op.End.After(dead.Add(grace)) {
			continue
		}
		if first.IsZero() || op.End.Before(first) {
			first = op.End
		}
	}
	return first, !first.IsZero()
}

// CreateCollection creates collection name (id int64 primary key, not
// auto; vec float vector of dim) with a FLAT L2 index, and loads it.
func CreateCollection(ctx context.Context, c *milvusclient.Client, name string, dim int) error {
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(int64(dim)))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema).
		WithIndexOptions(milvusclient.NewCreateIndexOption(name, "vec", index.NewFlatIndex(entity.L2)))); err != nil {
		return fmt.Errorf("create collection %s: %w", name, err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
	if err != nil {
		return fmt.Errorf("load collection %s: %w", name, err)
	}
	if err := lt.Await(ctx); err != nil {
		return fmt.Errorf("load collection %s: %w", name, err)
	}
	return nil
}

// idWindow is the id range one read-back query covers (<= the query
// limit of 16384).
const idWindow = 10000

// MissingIDs reads back ids (primary keys of collection coll, strong
// consistency) through c and returns those not present.
func MissingIDs(ctx context.Context, c *milvusclient.Client, coll string, ids []int64) ([]int64, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var missing []int64
	for i := 0; i < len(ids); {
		lo := ids[i]
		hi := lo + idWindow
		rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).
			WithFilter(fmt.Sprintf("id >= %d and id < %d", lo, hi)).
			WithOutputFields("id").WithLimit(idWindow).WithConsistencyLevel(entity.ClStrong))
		if err != nil {
			return nil, fmt.Errorf("read back ids [%d, %d): %w", lo, hi, err)
		}
		present := make(map[int64]bool, rs.ResultCount)
		if col := rs.GetColumn("id"); col != nil {
			for j := 0; j < col.Len(); j++ {
				v, err := col.GetAsInt64(j)
				if err != nil {
					return nil, err
				}
				present[v] = true
			}
		}
		for ; i < len(ids) && ids[i] < hi; i++ {
			if !present[ids[i]] {
				missing = append(missing, ids[i])
			}
		}
	}
	return missing, nil
}

// CountRows returns count(*) of coll (strong consistency).
func CountRows(ctx context.Context, c *milvusclient.Client, coll string) (int64, error) {
	rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithOutputFields("count(*)").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		return 0, fmt.Errorf("count rows of %s: %w", coll, err)
	}
	col := rs.GetColumn("count(*)")
	if col == nil || col.Len() == 0 {
		return 0, fmt.Errorf("count rows of %s: no count(*) column", coll)
	}
	return col.GetAsInt64(0)
}

// QuietSDK raises the Milvus SDK's global log level to errors: it logs a
// warning for every failed call it retries, which during a failover is
// noise on the terminal, not news (the Loads record every failure).
func QuietSDK() { milvuslog.SetLevel(zapcore.ErrorLevel) }
