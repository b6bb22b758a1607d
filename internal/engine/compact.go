package engine

// Compaction: merging small sealed segments and purging deleted rows.
//
// Every checkpoint seals the growing segments, so a node that takes many
// small writes ends up with many small sealed segments, and deleted rows
// (tombstoned: a delete LSN per row) stay in memory and on disk forever.
// Compaction rewrites a run of adjacent sealed segments of one partition
// into one segment of at most Config.SegmentMaxRows rows, dropping the
// rows whose delete is visible to every reader.
//
// # Determinism: compaction changes the layout, not the state
//
// The segment layout is local to each node (the package comment): members
// seal at their own checkpoints, so their layouts already differ, and the
// state digest (digest.go) covers the catalog and the visible live rows in
// primary-key order, never segments. A compaction keeps every row that any
// reader can still see, with its insert and delete LSNs, in the same
// order (a run of adjacent segments, concatenated): the live rows at
// every LSN a reader can ask for, the scan order of queries, and so the
// digest are the same before and after it. So each member decides and
// runs its own plans from its own layout; they need not agree on plans to
// agree on the state.
//
// What is replicated is the request: ManualCompaction writes one RecCompact
// record (type 60: u8 version, i64 collection ID). Its LSN is the
// compaction ID the client gets. Every member that applies it (the active,
// each standby, an alternative deployment through the change stream, a
// replay after a crash) queues a forced compaction of that collection, so
// GetCompactionState answers for that ID on whichever member is active
// after a failover. The job table (ID → state and merge plans) is local and
// in memory: an ID whose record is behind the last checkpoint when the
// node restarts is unknown, and an unknown ID answers Completed with no
// plans (as Milvus does for an ID without tasks).
//
// # Which rows are purged
//
// A row whose delete LSN D is <= H (purgeHorizon) is dropped: every later
// read snapshot is at or after H, so none can see it. H is the visible
// LSN when the plan is made, and, on a node whose read limit (sync mode's
// commit LSN, readlimit.go) was ever enabled, at most the read limit: the
// visible LSN only grows except when an active re-enables its limit at
// the commit LSN, which may be below what it saw with the limit off (so
// while the limit is off there, nothing is purged; merges still run). A
// row deleted after H keeps its delete LSN. Readers that took their snapshot before the swap keep reading the
// old segment objects (they are only garbage-collected).
//
// # Steps (compactor goroutine)
//
//  1. Plan, under mu.RLock: walk a partition's sealed segments in order and
//     group adjacent ones whose kept rows fit in SegmentMaxRows; a group is
//     worth running if it merges two or more segments, or purges rows. The
//     automatic pass only takes small segments (< SegmentMaxRows/2 kept
//     rows) and segments with at least 20% purgeable rows; a manual
//     compaction takes every sealed segment.
//  2. Build, no lock held: copy the kept rows of the group into a new
//     sealed segment (sealed segments are immutable apart from delete
//     LSNs).
//  3. Swap, under writeMu + mu.Lock: check the group is still in the
//     partition, copy the delete LSNs set since step 2, repoint the row
//     index (primary key → row) at the new rows, and replace the group in
//     the partition's segment list. Failpoint "engine/compact-before-swap"
//     fires just before (an error abandons the plan, as a crash would).
//  4. Persist: the new segment has no file yet; the layout is marked
//     changed so the next checkpoint (requested at once) writes it and a
//     MANIFEST without the old segments, even at an unchanged LSN, then
//     deletes the old files. A crash before that manifest recovers the old
//     layout (same state). Files being sent to a standby are hard links
//     (snapshot.go) and survive the removal; readers read memory, not
//     files. The index builder sees a sealed segment without an index and
//     rebuilds it; until then the segment is searched exactly.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// RecCompact requests a compaction of one collection (see above).
//
//	payload: u8 version (1), i64 collection ID
const RecCompact wal.RecordType = 60

// DefaultCompactionInterval is the period of the automatic compaction pass.
const DefaultCompactionInterval = time.Minute

// compactJobsKept bounds the job table (oldest forgotten first).
const compactJobsKept = 1024

// recCompact is a RecCompact body.
type recCompact struct{ collID int64 }

func (b *recCompact) encode(w *enc) error { w.i64(b.collID); return nil }

// CompactionPlan is one merge of a compaction: the source segments (local
// IDs) and the segment they became (0: every row was purged).
type CompactionPlan struct {
	PlanID  int64
	Sources []int64
	Target  int64
	Rows    int // rows of the target
	Purged  int // deleted rows dropped
}

// CompactionState is the state of a manual compaction on this node.
type CompactionState struct {
	ID        int64
	Known     bool // false: the ID is unknown here (answers Completed)
	Executing bool
	Plans     []CompactionPlan
}

// compactJob is a queued or finished manual compaction.
type compactJob struct {
	id, collID int64
	done       bool
	plans      []CompactionPlan
}

// compactor runs compactions in the background (one at a time).
type compactor struct {
	e        *Engine
	interval time.Duration // <= 0: no automatic pass
	kickCh   chan struct{}
	stop     chan struct{}
	done     chan struct{}
	started  bool

	mu      sync.Mutex
	jobs    map[int64]*compactJob
	order   []int64 // job IDs, oldest first
	queue   []*compactJob
	nextPln int64
	changed chan struct{} // closed and replaced when a job finishes

	// stats (tests, bench)
	merged, purged int64
}

func newCompactor(e *Engine) *compactor {
	iv := e.cfg.CompactionInterval
	if iv == 0 {
		iv = DefaultCompactionInterval
	}
	return &compactor{
		e: e, interval: iv,
		kickCh: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		jobs: map[int64]*compactJob{}, changed: make(chan struct{}),
	}
}

func (x *compactor) start() {
	x.started = true
	go x.run()
	x.kick()
}

func (x *compactor) close() {
	if !x.started {
		return
	}
	close(x.stop)
	<-x.done
}

func (x *compactor) kick() {
	select {
	case x.kickCh <- struct{}{}:
	default:
	}
}

// enqueue records a manual compaction job (apply of RecCompact).
func (x *compactor) enqueue(id, collID int64) {
	x.mu.Lock()
	if _, ok := x.jobs[id]; !ok {
		j := &compactJob{id: id, collID: collID}
		x.jobs[id] = j
		x.order = append(x.order, id)
		x.queue = append(x.queue, j)
		for len(x.order) > compactJobsKept {
			delete(x.jobs, x.order[0])
			x.order = x.order[1:]
		}
	}
	x.mu.Unlock()
	x.kick()
}

func (x *compactor) run() {
	defer close(x.done)
	var tick <-chan time.Time
	if x.interval > 0 {
		t := time.NewTicker(x.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		auto := false
		select {
		case <-x.stop:
			return
		case <-x.kickCh:
		case <-tick:
			auto = true
		}
		for {
			x.mu.Lock()
			if len(x.queue) == 0 {
				x.mu.Unlock()
				break
			}
			j := x.queue[0]
			x.queue = x.queue[1:]
			x.mu.Unlock()
			plans := x.e.compactCollection(j.collID, true, x)
			x.mu.Lock()
			j.plans, j.done = plans, true
			close(x.changed)
			x.changed = make(chan struct{})
			x.mu.Unlock()
		}
		if auto {
			for _, id := range x.e.collectionIDs() {
				select {
				case <-x.stop:
					return
				default:
				}
				x.e.compactCollection(id, false, x)
			}
		}
	}
}

// collectionIDs lists the collections in ID order.
func (e *Engine) collectionIDs() []int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var ids []int64
	for _, c := range e.cat.sortedColls() {
		ids = append(ids, c.id)
	}
	return ids
}

// compactGroup is one planned merge.
type compactGroup struct {
	segs []*segment
	keep int // rows kept
	rows int // rows of the sources
}

// compactCollection plans and runs the compaction of every partition of
// collection id; returns the plans that were carried out.
func (e *Engine) compactCollection(collID int64, force bool, x *compactor) []CompactionPlan {
	if e.check() != nil {
		return nil
	}
	e.mu.RLock()
	c := e.cat.colls[collID]
	var parts []*partition
	if c != nil {
		parts = slices.Clone(c.partitions)
	}
	e.mu.RUnlock()
	if c == nil || !compactable(c) {
		return nil
	}
	var out []CompactionPlan
	changed := false
	for _, p := range parts {
		h := e.purgeHorizon()
		e.mu.RLock()
		groups := planCompaction(p.segs, h, e.cfg.SegmentMaxRows, force)
		e.mu.RUnlock()
		for _, g := range groups {
			select {
			case <-x.stop:
				return out
			default:
			}
			plan, ok, err := e.runCompaction(c, p, g, h, x)
			if err != nil {
				e.logger().Warn("engine: compaction abandoned", slog.String("collection", c.name), slog.Any("error", err))
				continue
			}
			if ok {
				out = append(out, plan)
				changed = true
			}
		}
	}
	if changed {
		// Write the new layout (and delete the old files) now.
		if err := e.checkpoint(context.Background()); err != nil && e.check() == nil {
			e.logger().Warn("engine: checkpoint after compaction", slog.Any("error", err))
		}
	}
	return out
}

// purgeHorizon is H: deletes at or below it are purged (see above).
func (e *Engine) purgeHorizon() uint64 {
	h := e.visibleLSN()
	if e.readLimit.ever.Load() {
		h = min(h, e.readLimit.lsn.Load())
	}
	return h
}

// keptRows counts s's rows that a compaction at horizon h keeps.
func keptRows(s *segment, h uint64) int {
	if s.deleted.Load() == 0 {
		return s.rows
	}
	n := 0
	for r := 0; r < s.rows; r++ {
		if d := s.deleteLSN(r); d == 0 || d > h {
			n++
		}
	}
	return n
}

// planCompaction groups the sealed segments of segs (a partition's list)
// into merges (see the file comment). Caller holds mu.RLock.
func planCompaction(segs []*segment, h uint64, segMax int, force bool) []compactGroup {
	var out []compactGroup
	var cur compactGroup
	flush := func() {
		if len(cur.segs) >= 2 || (len(cur.segs) == 1 && cur.keep < cur.rows) {
			out = append(out, cur)
		}
		cur = compactGroup{}
	}
	for _, s := range segs {
		if !s.sealed || s.rows == 0 {
			flush()
			continue
		}
		keep := keptRows(s, h)
		want := force || keep < segMax/2 || (s.rows-keep)*5 >= s.rows && s.rows > keep
		if !want {
			flush()
			continue
		}
		if cur.keep+keep > segMax {
			flush()
		}
		cur.segs = append(cur.segs, s)
		cur.keep += keep
		cur.rows += s.rows
	}
	flush()
	return out
}

// runCompaction builds the merged segment of g and swaps it in. ok is
// false when the plan no longer applies (the partition changed).
func (e *Engine) runCompaction(c *collection, p *partition, g compactGroup, h uint64, x *compactor) (CompactionPlan, bool, error) {
	// Build: the kept rows, in order, with the source of each.
	ns := newSegment(0, c, p.id, e.cfg.SegmentMaxRows)
	srcSeg := make([]int32, 0, g.keep)
	srcRow := make([]int32, 0, g.keep)
	for si, s := range g.segs {
		lo := -1
		for r := 0; r <= s.rows; r++ {
			keep := r < s.rows
			if keep {
				if d := s.deleteLSN(r); d != 0 && d <= h {
					keep = false
				}
			}
			if keep {
				if lo < 0 {
					lo = r
				}
				srcSeg = append(srcSeg, int32(si))
				srcRow = append(srcRow, int32(r))
				continue
			}
			if lo >= 0 {
				if ns.rows+r-lo > e.cfg.SegmentMaxRows {
					return CompactionPlan{}, false, fmt.Errorf("plan outgrew the segment size")
				}
				ns.appendFrom(s, lo, r)
				lo = -1
			}
		}
	}
	ns.seal()

	if err := failpoint.Inject("engine/compact-before-swap"); err != nil {
		return CompactionPlan{}, false, err
	}

	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.check(); err != nil {
		return CompactionPlan{}, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cat.colls[c.id] != c || c.partitionByID(p.id) != p {
		return CompactionPlan{}, false, nil
	}
	at := slices.Index(p.segs, g.segs[0])
	if at < 0 || at+len(g.segs) > len(p.segs) {
		return CompactionPlan{}, false, nil
	}
	for i, s := range g.segs {
		if p.segs[at+i] != s {
			return CompactionPlan{}, false, nil
		}
	}
	// Check the row index first, so that nothing changes on a mismatch.
	pks := ns.cols[c.pk].data
	for j := range srcRow {
		s, r := g.segs[srcSeg[j]], int(srcRow[j])
		if s.deleteLSN(r) != 0 {
			continue
		}
		var loc rowLoc
		var ok bool
		switch v := pks.(type) {
		case []int64:
			loc, ok = c.pkInt[v[j]]
		case []string:
			loc, ok = c.pkStr[v[j]]
		}
		if !ok || loc.seg != s || int(loc.row) != r {
			return CompactionPlan{}, false, fmt.Errorf("row index does not point at live row %d of segment %d", r, s.id)
		}
	}
	if ns.rows > 0 {
		ns.id = e.nextSegID
		e.nextSegID++
	}
	for j := range srcRow {
		s, r := g.segs[srcSeg[j]], int(srcRow[j])
		if d := s.deleteLSN(r); d != 0 {
			ns.markDeleted(j, d)
			continue
		}
		loc := rowLoc{seg: ns, row: int32(j)}
		switch v := pks.(type) {
		case []int64:
			c.pkInt[v[j]] = loc
		case []string:
			c.pkStr[v[j]] = loc
		}
	}
	segs := make([]*segment, 0, len(p.segs)-len(g.segs)+1)
	segs = append(segs, p.segs[:at]...)
	if ns.rows > 0 {
		segs = append(segs, ns)
	}
	segs = append(segs, p.segs[at+len(g.segs):]...)
	p.segs = segs
	e.layoutChanged.Store(true)
	e.ix.kick()

	plan := CompactionPlan{Target: ns.id, Rows: ns.rows, Purged: g.rows - g.keep}
	for _, s := range g.segs {
		plan.Sources = append(plan.Sources, s.id)
	}
	x.mu.Lock()
	x.nextPln++
	plan.PlanID = x.nextPln
	x.merged += int64(len(g.segs))
	x.purged += int64(plan.Purged)
	x.mu.Unlock()
	return plan, true, nil
}

// compactable reports whether appendFrom copies every column of c
// faithfully: float vectors and non-nullable scalars. Collections with
// other columns are left alone (never half-copied).
func compactable(c *collection) bool {
	for i := range c.fields {
		if c.fields[i].isVector && c.fields[i].typ != schemapb.DataType_FloatVector {
			return false
		}
		if i < len(c.schema.GetFields()) && c.schema.GetFields()[i].GetNullable() {
			return false
		}
	}
	return true
}

// appendFrom appends rows [lo,hi) of sealed segment src (same collection)
// with their insert LSNs (not their delete LSNs). The caller keeps
// s.rows+hi-lo <= SegmentMaxRows and s unpublished. It copies the
// segColumn members data, chunks and norms: a new per-row member of
// segColumn must be copied here too (TestCompactionCopiesEveryColumnMember
// lists them).
func (s *segment) appendFrom(src *segment, lo, hi int) {
	n := hi - lo
	for i := range s.cols {
		sc, from := &s.cols[i], &src.cols[i]
		if sc.dim == 0 {
			sc.data = appendData(sc.data, from.data, lo, hi)
			continue
		}
		dim := sc.dim
		row := s.rows
		for r := lo; r < hi; {
			// A run within one source chunk and one target chunk.
			sci, soff := r/src.chunkRows, r%src.chunkRows
			ci, off := row/s.chunkRows, row%s.chunkRows
			if ci == len(sc.chunks) {
				sc.chunks = append(sc.chunks, make([]float32, s.chunkRows*dim))
			}
			take := min(hi-r, src.chunkRows-soff, s.chunkRows-off)
			copy(sc.chunks[ci][off*dim:(off+take)*dim], from.chunks[sci][soff*dim:(soff+take)*dim])
			r += take
			row += take
		}
		sc.norms = append(sc.norms, from.norms[lo:hi]...)
	}
	s.insertLSN = append(s.insertLSN, src.insertLSN[lo:hi]...)
	for need := (s.rows + n + delChunkRows - 1) / delChunkRows; len(s.del) < need; {
		s.del = append(s.del, new(delChunk))
	}
	s.rows += n
}

// Compact requests a compaction of collection coll (Milvus
// ManualCompaction): one RecCompact record, whose LSN is returned as the
// compaction ID; every member then compacts its own segments of the
// collection in the background. plans is the number of merges planned on
// this node. Returns id -1 (and writes nothing) when no sealed segment of
// the collection can be merged or purged here, as Milvus does when it
// finds no plan.
func (e *Engine) Compact(ctx context.Context, db, coll string) (id int64, plans int, err error) {
	if err := e.check(); err != nil {
		return 0, 0, err
	}
	if _, err := e.admit(); err != nil {
		return 0, 0, err
	}
	e.mu.RLock()
	c, err := e.lookupLocked(db, coll)
	e.mu.RUnlock()
	if err != nil {
		return 0, 0, err
	}
	h := e.purgeHorizon()
	e.writeMu.Lock()
	if e.cat.colls[c.id] != c {
		e.writeMu.Unlock()
		return 0, 0, merr.CollectionNotFound(coll)
	}
	for _, p := range c.partitions {
		if compactable(c) {
			plans += len(planCompaction(p.segs, h, e.cfg.SegmentMaxRows, true))
		}
	}
	if plans == 0 {
		e.writeMu.Unlock()
		return -1, 0, nil
	}
	lsn, err := e.commitLocked(RecCompact, &recCompact{collID: c.id}, 16)
	e.writeMu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	if err := e.ackWrite(ctx, lsn); err != nil {
		return 0, 0, err
	}
	return int64(lsn), plans, nil
}

// CompactionState reports the manual compaction id on this node.
func (e *Engine) CompactionState(id int64) CompactionState {
	x := e.cmp
	x.mu.Lock()
	defer x.mu.Unlock()
	j, ok := x.jobs[id]
	if !ok {
		return CompactionState{ID: id}
	}
	return CompactionState{ID: id, Known: true, Executing: !j.done, Plans: slices.Clone(j.plans)}
}

// WaitCompaction blocks until the manual compaction id is no longer
// executing on this node (tests, tools).
func (e *Engine) WaitCompaction(ctx context.Context, id int64) (CompactionState, error) {
	for {
		x := e.cmp
		x.mu.Lock()
		ch := x.changed
		x.mu.Unlock()
		st := e.CompactionState(id)
		if !st.Executing {
			return st, nil
		}
		if err := e.check(); err != nil {
			return st, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("engine: wait for compaction: %w", ctx.Err())
		}
	}
}

// CompactNow runs an automatic compaction pass (force: a manual one) over
// every collection on the caller's goroutine, without a record (tests,
// benchmarks). Returns the plans carried out.
func (e *Engine) CompactNow(force bool) []CompactionPlan {
	var out []CompactionPlan
	for _, id := range e.collectionIDs() {
		out = append(out, e.compactCollection(id, force, e.cmp)...)
	}
	return out
}

// compactionState maps a CompactionState to Milvus's enum.
func (s CompactionState) MilvusState() commonpb.CompactionState {
	if s.Executing {
		return commonpb.CompactionState_Executing
	}
	return commonpb.CompactionState_Completed
}
