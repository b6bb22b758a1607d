package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/index/hnsw"
	"github.com/tandem-db/tandem/internal/index/ivf"
)

// Background index builds (see index.go for the model).
//
// One dispatcher goroutine waits for kicks (a segment sealed, an index
// created or dropped, a checkpoint, a build ended), scans the catalog under
// mu.RLock for sealed segments that need an index, detaches indexes that
// are no longer current, and starts builds, at most Config.IndexBuildWorkers
// at a time (default 1); each build inserts with Config.IndexBuildThreads
// goroutines (default GOMAXPROCS). A build reads only the sealed segment's
// immutable vector chunks, so it holds no engine lock while it runs; it
// then writes the index file and attaches the index under ckptMu (so a
// checkpoint never deletes a file it has not seen, and lists only attached
// files). Close stops the dispatcher, and builds stop between insertion
// batches.

// Defaults for zero Config fields of the index builder.
const (
	DefaultIndexBuildWorkers = 1
	DefaultIndexMinRows      = 1024
	// buildBatch is the number of rows inserted between stop checks.
	buildBatch = 4096
)

// errBuildStopped ends a build cut short by Close.
var errBuildStopped = errors.New("engine: index build stopped")

// buildKey names one index build: a column of a segment, for an index.
type buildKey struct {
	seg     *segment
	fi      int
	indexID int64
}

// buildTask is a build with what it reads, captured under mu.RLock.
type buildTask struct {
	key       buildKey
	collName  string
	ix        *indexMeta
	spec      annSpec
	col       segColumn // header copy of the sealed column
	rows      int
	chunkRows int
}

// indexer runs background index builds for an Engine.
type indexer struct {
	e                       *Engine
	workers, threads        int
	minRows                 int
	kickCh, stop, dispDone  chan struct{}
	builds                  sync.WaitGroup
	started, stopped        atomic.Bool
	mu                      sync.Mutex
	inflight                map[buildKey]bool
	failed                  map[buildKey]string
	changed                 chan struct{} // closed and replaced when a build ends
	nBuilt, loads, nStarted atomic.Int64  // counters (tests, logs)

	// beforeBuild, if set (tests), runs at the start of every build on
	// the build's goroutine.
	beforeBuild atomic.Pointer[func(segID int64)]
}

func newIndexer(e *Engine) *indexer {
	x := &indexer{
		e:        e,
		workers:  e.cfg.IndexBuildWorkers,
		threads:  e.cfg.IndexBuildThreads,
		minRows:  e.cfg.IndexMinRows,
		kickCh:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		dispDone: make(chan struct{}),
		inflight: map[buildKey]bool{},
		failed:   map[buildKey]string{},
		changed:  make(chan struct{}),
	}
	if x.workers <= 0 {
		x.workers = DefaultIndexBuildWorkers
	}
	if x.threads <= 0 {
		x.threads = runtime.GOMAXPROCS(0)
	}
	if x.minRows == 0 {
		x.minRows = DefaultIndexMinRows
	}
	x.minRows = max(x.minRows, 1)
	return x
}

// start launches the dispatcher and schedules a first scan.
func (x *indexer) start() {
	x.started.Store(true)
	go x.run()
	x.kick()
}

// close stops the dispatcher and waits for running builds. Idempotent.
func (x *indexer) close() {
	if x == nil || x.stopped.Swap(true) {
		return
	}
	close(x.stop)
	if x.started.Load() {
		<-x.dispDone
	}
	x.builds.Wait()
	x.mu.Lock()
	close(x.changed)
	x.mu.Unlock()
}

// kick asks for a scan; never blocks. Safe on a nil indexer.
func (x *indexer) kick() {
	if x == nil {
		return
	}
	select {
	case x.kickCh <- struct{}{}:
	default:
	}
}

func (x *indexer) run() {
	defer close(x.dispDone)
	sem := make(chan struct{}, x.workers)
	for {
		select {
		case <-x.stop:
			return
		case <-x.kickCh:
		}
		if x.e.check() != nil {
			continue
		}
		x.e.mu.RLock()
		tasks := x.scanLocked(true)
		x.e.mu.RUnlock()
		for _, t := range tasks {
			x.mu.Lock()
			_, failed := x.failed[t.key]
			skip := failed || x.inflight[t.key]
			if !skip {
				x.inflight[t.key] = true
			}
			x.mu.Unlock()
			if skip {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-x.stop:
				x.mu.Lock()
				delete(x.inflight, t.key)
				x.mu.Unlock()
				return
			}
			x.builds.Add(1)
			go func() {
				defer x.builds.Done()
				defer func() { <-sem }()
				x.runBuild(t)
			}()
		}
	}
}

// scanLocked returns the builds needed now: sealed segments of at least
// minRows rows of a column with a current ANN index and no attached index
// of that ID, in catalog order. With detach, indexes that are no longer
// current are detached. Caller holds e.mu.RLock.
func (x *indexer) scanLocked(detach bool) []buildTask {
	var tasks []buildTask
	for _, c := range x.e.cat.sortedColls() {
		for _, fi := range c.vectorFields() {
			ix := c.indexOn(c.fields[fi].id)
			spec := annSpec{kind: annExact}
			if ix != nil {
				if s, err := parseANNSpec(ix.params); err == nil {
					spec = s
				}
			}
			for _, p := range c.partitions {
				for _, s := range p.segs {
					cur := s.ann[fi].Load()
					if cur != nil && (spec.kind == annExact || cur.indexID != ix.id) {
						if detach {
							s.ann[fi].Store(nil)
						}
						cur = nil
					}
					if spec.kind == annExact || !s.sealed || s.rows < x.minRows || cur != nil {
						continue
					}
					tasks = append(tasks, buildTask{
						key: buildKey{seg: s, fi: fi, indexID: ix.id}, collName: c.name, ix: ix, spec: spec,
						col: s.cols[fi], rows: s.rows, chunkRows: s.chunkRows,
					})
				}
			}
		}
	}
	return tasks
}

// runBuild builds, persists and attaches one index, then records the
// outcome and wakes waiters.
func (x *indexer) runBuild(t buildTask) {
	err := x.build(t)
	x.mu.Lock()
	delete(x.inflight, t.key)
	if err != nil && !errors.Is(err, errBuildStopped) {
		x.failed[t.key] = err.Error()
		x.e.logger().Error("engine: index build failed", slog.String("collection", t.collName),
			slog.Int64("segment", t.key.seg.id), slog.String("index", t.ix.name), slog.Any("error", err))
	}
	if !x.stopped.Load() {
		close(x.changed)
		x.changed = make(chan struct{})
	}
	x.mu.Unlock()
	x.kick()
}

func (x *indexer) stopping() bool {
	select {
	case <-x.stop:
		return true
	default:
		return false
	}
}

// build builds t's index from the segment's vectors; then, if t's index
// is still current on the segment, writes its file and attaches it.
func (x *indexer) build(t buildTask) error {
	if f := x.beforeBuild.Load(); f != nil {
		(*f)(t.key.seg.id)
	}
	if x.stopping() {
		return errBuildStopped
	}
	if !x.current(t) {
		return nil
	}
	x.nStarted.Add(1)
	start := time.Now()
	vecs := &segVectors{col: t.col, chunkRows: t.chunkRows}
	si := &segIndex{indexID: t.ix.id, fieldID: t.ix.fieldID, rows: t.rows}
	addAll := func(add func(n, threads int) error) error {
		for lo := 0; lo < t.rows; lo += buildBatch {
			if x.stopping() {
				return errBuildStopped
			}
			if err := add(min(t.rows, lo+buildBatch), x.threads); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.spec.kind {
	case annHNSW:
		cfg := t.spec.hnsw
		cfg.Seed = uint64(t.key.seg.id)
		h, err := hnsw.New(cfg, vecs, t.rows)
		if err != nil {
			return fmt.Errorf("engine: build hnsw: %w", err)
		}
		if err := addAll(h.AddAll); err != nil {
			return fmt.Errorf("engine: build hnsw: %w", err)
		}
		si.h = h
	case annIVF:
		cfg := t.spec.ivf
		cfg.Seed = uint64(t.key.seg.id)
		v, err := ivf.New(cfg, vecs)
		if err != nil {
			return fmt.Errorf("engine: build ivf: %w", err)
		}
		if err := v.Train(t.rows, x.threads); err != nil {
			return fmt.Errorf("engine: build ivf: train: %w", err)
		}
		if err := addAll(v.AddAll); err != nil {
			return fmt.Errorf("engine: build ivf: %w", err)
		}
		si.v = v
	default:
		if err := x.buildQuant(t, vecs, si); err != nil {
			return err
		}
	}
	x.nBuilt.Add(1)
	built := time.Since(start)

	// Persist (the file is small: the graph or lists, not the vectors).
	b, encErr := encodeIndexFile(t.key.seg.id, si)
	e := x.e
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	if !x.current(t) {
		return nil
	}
	if encErr == nil {
		name := indexFileName(t.key.seg.id, si.indexID, t.spec.kind)
		encErr = writeFileAtomic(filepath.Join(e.segDir, name), b)
		if encErr == nil {
			encErr = fileutil.SyncDir(e.segDir)
		}
		if encErr == nil {
			si.file = name
		}
	}
	if encErr != nil {
		// Serve it from memory; a restart rebuilds it.
		e.logger().Warn("engine: index file not written; the index is served from memory only",
			slog.String("collection", t.collName), slog.Int64("segment", t.key.seg.id), slog.Any("error", encErr))
	}
	t.key.seg.ann[t.key.fi].Store(si)
	e.logger().Debug("engine: index built", slog.String("collection", t.collName), slog.Int64("segment", t.key.seg.id),
		slog.String("kind", t.spec.kind.ext()), slog.Int("rows", t.rows), slog.Duration("took", built))
	return nil
}

// current reports whether t's index is still the index on its field and
// its segment still belongs to the collection.
func (x *indexer) current(t buildTask) bool {
	e := x.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := t.key.seg
	c, ok := e.cat.colls[s.collID]
	if !ok || c.indexOn(t.ix.fieldID) != t.ix {
		return false
	}
	p := c.partitionByID(s.partID)
	return p != nil && slices.Contains(p.segs, s)
}

// failure returns why the build of column fi of s for index indexID
// failed, or "".
func (x *indexer) failure(s *segment, fi int, indexID int64) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.failed[buildKey{seg: s, fi: fi, indexID: indexID}]
}

// WaitIndexBuilds blocks until no index build is pending: every sealed
// segment that needs an ANN index has one (or its build failed), or ctx
// ends. Search never needs this (unindexed segments are searched
// exactly); it is for tests, benchmarks and tools.
func (e *Engine) WaitIndexBuilds(ctx context.Context) error {
	x := e.ix
	for {
		if err := e.check(); err != nil {
			return err
		}
		x.mu.Lock()
		ch := x.changed
		x.mu.Unlock()
		if x.stopped.Load() {
			return errClosed
		}
		e.mu.RLock()
		tasks := x.scanLocked(false)
		e.mu.RUnlock()
		pending := 0
		x.mu.Lock()
		for _, t := range tasks {
			if _, failed := x.failed[t.key]; !failed {
				pending++
			}
		}
		x.mu.Unlock()
		if pending == 0 {
			return nil
		}
		x.kick()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("engine: wait for index builds: %w", ctx.Err())
		}
	}
}
