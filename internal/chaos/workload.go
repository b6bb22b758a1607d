package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/localgroup"
)

// Collections and fields of the workloads.
const (
	// RegColl holds the registers: id (primary key) -> val.
	RegColl = "chaos_reg"
	// SetColl holds the append set (and the search sanity rows).
	SetColl = "chaos_set"
	// SetDim is the set's vector dimension; the registers' vectors have
	// regDim.
	SetDim = 8
	regDim = 2
)

// ID spaces: set rows of client c are SetIDBase | c<<32 | seq — large,
// distinctive numbers, whose 8 little-endian bytes are found in saved
// records without decoding them (FindInDiverged).
const SetIDBase int64 = 0x5EED << 48

// RegValueBase marks register values: client c's seq-th write stores
// RegValueBase | c<<32 | seq — unique, never 0 (the absent register), and
// as distinctive as the set ids in saved records.
const RegValueBase int64 = 0x7A11 << 48

// RegValue is client's seq-th register value.
func RegValue(client int, seq int64) int64 { return RegValueBase | int64(client)<<32 | seq }

// SetID is the id of client's seq-th set row.
func SetID(client int, seq int64) int64 { return SetIDBase | int64(client)<<32 | seq }

// RegKey is the k-th register key of phase (keys never repeat across
// phases, so each phase's register history is checked on its own).
func RegKey(phase, k int) int64 { return int64(phase)*1000 + int64(k) + 1 }

// CreateCollections creates and loads the register and set collections
// (FLAT index: searches are exact).
func CreateCollections(ctx context.Context, c *milvusclient.Client) error {
	reg := entity.NewSchema().WithName(RegColl).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("val").WithDataType(entity.FieldTypeInt64)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(regDim))
	set := entity.NewSchema().WithName(SetColl).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(SetDim))
	for _, s := range []*entity.Schema{reg, set} {
		if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(s.CollectionName, s).
			WithIndexOptions(milvusclient.NewCreateIndexOption(s.CollectionName, "vec", index.NewFlatIndex(entity.L2)))); err != nil {
			return fmt.Errorf("create collection %s: %w", s.CollectionName, err)
		}
		lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(s.CollectionName))
		if err != nil {
			return fmt.Errorf("load collection %s: %w", s.CollectionName, err)
		}
		if err := lt.Await(ctx); err != nil {
			return fmt.Errorf("load collection %s: %w", s.CollectionName, err)
		}
	}
	return nil
}

// Workload runs the clients: register clients (upsert a key to a new
// value, delete it, or read it with strong consistency), set clients (insert new
// rows) and search clients (insert a row, then search for it exactly with
// strong consistency), recording every call in a history.
type Workload struct {
	noDeletes bool // WorkloadConfig.NoDeletes
	h         *History
	phase     *atomic.Int64
	keys      int
	timeout   time.Duration
	pause     time.Duration

	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	sources []localgroup.ClientSource
}

// WorkloadConfig configures a Workload.
type WorkloadConfig struct {
	// Keys is the number of register keys per phase (default 8).
	Keys int
	// Timeout bounds each call (default 4s); Pause separates a client's
	// calls (default 5ms).
	Timeout, Pause time.Duration
	// Seed seeds the clients' choices.
	Seed uint64
	// FlushEvery, when > 0, adds a client that flushes both collections
	// (seals the growing segments and checkpoints the active) this often:
	// checkpoints let the WAL be truncated, so that standbys coming back
	// may need a snapshot, and a cut after a failover may fall behind the
	// checkpoint. Its calls are recorded as KindFlush and not checked.
	FlushEvery time.Duration
	// NoDeletes makes register clients write instead of delete. Async
	// mode sets it: a lost acknowledged delete leaves no value to find in
	// diverged/, so the checker could not tell an allowed loss from a
	// violation.
	NoDeletes bool
}

// Route is where a client sends its calls.
type Route struct {
	Name string
	Src  localgroup.ClientSource
}

// StartWorkload starts the clients: one register client per route in
// regs, one set client per route in sets, one search client per route in
// searches, and with cfg.FlushEvery a flusher on flush[0]. phase is the
// current nemesis phase.
func StartWorkload(h *History, phase *atomic.Int64, cfg WorkloadConfig, regs, sets, searches, flush []Route) *Workload {
	if cfg.Keys <= 0 {
		cfg.Keys = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Second
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 5 * time.Millisecond
	}
	w := &Workload{h: h, phase: phase, keys: cfg.Keys, timeout: cfg.Timeout, pause: cfg.Pause, stop: make(chan struct{}),
		noDeletes: cfg.NoDeletes}
	id := 0
	for _, r := range regs {
		w.track(r.Src)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
		w.wg.Add(1)
		go w.registerClient(id, r, rng)
		id++
	}
	for _, r := range sets {
		w.track(r.Src)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
		w.wg.Add(1)
		go w.setClient(id, r, rng, false)
		id++
	}
	for _, r := range searches {
		w.track(r.Src)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
		w.wg.Add(1)
		go w.setClient(id, r, rng, true)
		id++
	}
	if cfg.FlushEvery > 0 && len(flush) > 0 {
		w.track(flush[0].Src)
		w.wg.Add(1)
		go w.flusher(id, flush[0], cfg.FlushEvery)
	}
	return w
}

func (w *Workload) flusher(id int, r Route, every time.Duration) {
	defer w.wg.Done()
	for w.sleep(every); w.running(); w.sleep(every) {
		op := Op{Client: id, Kind: KindFlush, Phase: int(w.phase.Load()), Via: r.Name, Invoke: w.h.Now()}
		err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
			for _, coll := range []string{RegColl, SetColl} {
				t, err := c.Flush(ctx, milvusclient.NewFlushOption(coll))
				if err != nil {
					return err
				}
				if err := t.Await(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		op.Complete = w.h.Now()
		op.Outcome, op.Err = OK, errString(err)
		if err != nil {
			op.Outcome = Info
		}
		w.h.Add(op)
	}
}

func (w *Workload) track(s localgroup.ClientSource) {
	w.mu.Lock()
	w.sources = append(w.sources, s)
	w.mu.Unlock()
}

// Stop stops the clients after their calls in progress and closes their
// connections.
func (w *Workload) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
	w.mu.Lock()
	for _, s := range w.sources {
		s.Close()
	}
	w.sources = nil
	w.mu.Unlock()
}

func (w *Workload) running() bool {
	select {
	case <-w.stop:
		return false
	default:
		return true
	}
}

func (w *Workload) sleep(d time.Duration) {
	select {
	case <-w.stop:
	case <-time.After(d):
	}
}

// call runs f with a client from src, bounded by the call timeout.
func (w *Workload) call(src localgroup.ClientSource, f func(ctx context.Context, c *milvusclient.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	c, err := src.Get(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := f(ctx, c); err != nil {
		src.Failed(c)
		return err
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (w *Workload) registerClient(id int, r Route, rng *rand.Rand) {
	defer w.wg.Done()
	var seq int64
	for w.running() {
		phase := int(w.phase.Load())
		key := RegKey(phase, rng.IntN(w.keys))
		op := Op{Client: id, Key: key, Phase: phase, Via: r.Name}
		x := rng.IntN(10)
		if x == 0 && w.noDeletes {
			x = 1
		}
		switch {
		case x == 0:
			// A delete (one in ten calls): through a proxy it is re-sent
			// after an ambiguous outcome, which must not delete a row
			// another client wrote in between.
			op.Kind = KindDelete
			op.Invoke = w.h.Now()
			err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
				_, err := c.Delete(ctx, milvusclient.NewDeleteOption(RegColl).WithInt64IDs("id", []int64{key}))
				return err
			})
			op.Complete = w.h.Now()
			op.Outcome, op.Err = OK, errString(err)
			if err != nil {
				op.Outcome = Info
			}
		case x < 5:
			seq++
			op.Kind, op.Value = KindWrite, RegValue(id, seq)
			op.Invoke = w.h.Now()
			err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
				res, err := c.Upsert(ctx, milvusclient.NewColumnBasedInsertOption(RegColl).
					WithInt64Column("id", []int64{key}).WithInt64Column("val", []int64{op.Value}).
					WithFloatVectorColumn("vec", regDim, [][]float32{{float32(id), float32(seq)}}))
				if err == nil && res.UpsertCount != 1 {
					err = fmt.Errorf("upsert count %d, want 1", res.UpsertCount)
				}
				return err
			})
			op.Complete = w.h.Now()
			op.Outcome, op.Err = OK, errString(err)
			if err != nil {
				op.Outcome = Info
			}
		default:
			op.Kind = KindRead
			op.Invoke = w.h.Now()
			err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
				rs, err := c.Query(ctx, milvusclient.NewQueryOption(RegColl).WithFilter(fmt.Sprintf("id == %d", key)).
					WithOutputFields("id", "val").WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					return err
				}
				op.Rows = rs.ResultCount
				if rs.ResultCount == 0 {
					return nil
				}
				col := rs.GetColumn("val")
				if col == nil || col.Len() == 0 {
					return fmt.Errorf("query: no val column in %d rows", rs.ResultCount)
				}
				op.Value, err = col.GetAsInt64(0)
				return err
			})
			op.Complete = w.h.Now()
			op.Outcome, op.Err = OK, errString(err)
			if err != nil {
				op.Outcome, op.Value, op.Rows = Fail, 0, 0
			}
		}
		w.h.Add(op)
		if op.Ok() {
			w.sleep(w.pause)
		} else {
			w.sleep(50 * time.Millisecond)
		}
	}
}

// setVector is row id's vector (random, so an exact search finds only it).
func setVector(rng *rand.Rand) []float32 {
	v := make([]float32, SetDim)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// setBatch is the rows per set insert.
const setBatch = 5

func (w *Workload) setClient(id int, r Route, rng *rand.Rand, search bool) {
	defer w.wg.Done()
	var seq int64
	for w.running() {
		phase := int(w.phase.Load())
		n := setBatch
		if search {
			n = 1
		}
		ids := make([]int64, n)
		vecs := make([][]float32, n)
		for i := range ids {
			ids[i] = SetID(id, seq)
			seq++
			vecs[i] = setVector(rng)
		}
		op := Op{Client: id, Kind: KindInsert, IDs: ids, Phase: phase, Via: r.Name, Invoke: w.h.Now()}
		err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
			res, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(SetColl).
				WithInt64Column("id", ids).WithFloatVectorColumn("vec", SetDim, vecs))
			if err == nil && res.InsertCount != int64(n) {
				err = fmt.Errorf("insert count %d, want %d", res.InsertCount, n)
			}
			return err
		})
		op.Complete = w.h.Now()
		op.Outcome, op.Err = OK, errString(err)
		if err != nil {
			op.Outcome = Info
		}
		w.h.Add(op)
		if err == nil && search {
			s := Op{Client: id, Kind: KindSearch, IDs: ids[:1], Value: -1, Phase: phase, Via: r.Name, Invoke: w.h.Now()}
			err := w.call(r.Src, func(ctx context.Context, c *milvusclient.Client) error {
				rss, err := c.Search(ctx, milvusclient.NewSearchOption(SetColl, 1, []entity.Vector{entity.FloatVector(vecs[0])}).
					WithANNSField("vec").WithConsistencyLevel(entity.ClStrong))
				if err != nil {
					return err
				}
				if len(rss) == 1 && rss[0].ResultCount > 0 && rss[0].IDs != nil {
					got, err := rss[0].IDs.GetAsInt64(0)
					if err != nil {
						return err
					}
					s.Value = got
				}
				return nil
			})
			s.Complete = w.h.Now()
			s.Outcome, s.Err = OK, errString(err)
			if err != nil {
				s.Outcome = Fail
			}
			w.h.Add(s)
		}
		if err != nil {
			w.sleep(50 * time.Millisecond)
		} else {
			w.sleep(w.pause)
		}
	}
}
