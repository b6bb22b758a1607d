// Package engine is Tandem's single-node storage engine: the catalog, the
// write path (one WAL record per state change, applied by one
// deterministic function), growing and sealed segments, checkpoints and
// recovery, and search/query execution.
//
// # Invariants
//
//   - Every state change (DDL and DML) is exactly one WAL record, applied to
//     memory by apply (apply.go), which reads only the record and the state.
//     Writers resolve every nondeterministic input (auto-id keys, wall-clock
//     times, new collection/partition/index IDs, the primary keys a delete
//     expression matches) before writing and put it in the record. Two
//     engines that apply the same records reach equal states (Digest) at
//     equal LSNs. Segment IDs and the segment layout are local, not
//     replicated: they do not affect results.
//   - Write path: writeMu serializes writers: validate → encode → WAL append
//     → apply (under mu) → release writeMu → wait until durable → return.
//     A WAL or apply failure fails the engine: every later call returns an
//     error wrapping merr.ErrServiceInternal; memory never runs ahead of a
//     broken log.
//   - Visibility: reads see rows of records that are both applied and
//     durable: visible = min(durable LSN, applied LSN). A row is visible at
//     snapshot S iff insertLSN <= S and (deleteLSN == 0 || deleteLSN > S).
//     Catalog (DDL) changes are visible to readers once applied.
//   - At most one live row per primary key per collection: an insert of an
//     existing key supersedes the old row (an upsert), unlike Milvus which
//     keeps duplicates. Upsert = delete of the old row + insert of the new
//     one at one LSN, so readers see old or new, never both or neither.
//   - Readers copy segment headers under mu.RLock and then scan without
//     locks: vector chunks are fixed-capacity and never move, scalar columns
//     are append-only, delete LSNs are atomics.
//   - Writes with a request id (request.go) are applied at most once: the id
//     and a fingerprint of the request travel in the write's record (record
//     version 2, record.go), apply keeps the last RequestTableSize ids with
//     their results in the catalog (checkpointed, in Digest), and a write
//     whose id is known returns the original result without a record.
//   - Errors caused by the request (bad input, missing collection, ...) are
//     merr errors with Milvus's codes and wording and no package prefix, so
//     they reach clients unchanged; internal errors are prefixed "engine:".
//
// # Layout
//
//	DataDir/wal/        the write-ahead log (package wal)
//	DataDir/segments/   immutable sealed-segment files and tombstone files
//	DataDir/MANIFEST    the last checkpoint (see checkpoint.go)
//	DataDir/diverged/   records cut from a diverged log (HA; see cut.go)
//	DataDir/snapshots/  hard links of checkpoint files being sent to a
//	                    standby (snapshot.go; removed when done and at Open)
//	DataDir/snapshot.stage/, DataDir/SNAPSHOT_INSTALL, DataDir/segments.old/
//	                    a snapshot being received or installed (snapshot.go)
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
	"github.com/tandem-db/tandem/internal/wal"
)

// Defaults for zero Config fields.
const (
	DefaultSegmentMaxRows     = 65536
	DefaultCheckpointWALBytes = 256 << 20
	DefaultMaxRequestBytes    = 64 << 20
	DefaultSyncInterval       = 100 * time.Millisecond
	// maxSegmentRows caps Config.SegmentMaxRows.
	maxSegmentRows = 1 << 26
)

// Engine is one node's storage engine: catalog, segments, WAL and apply.
// All methods are safe for concurrent use. Write methods return only after
// their WAL record is durable (per Config.Sync).
type Engine struct {
	cfg    Config
	wal    *wal.Log
	segDir string

	readLimit readLimit     // optional cap on what reads see (sync mode's commit LSN)
	upstream  upstreamState // read-only alternative deployment (upstream.go)

	// writeMu serializes writers (validate → append → apply) and the
	// first phase of a checkpoint. Lock order: ckptMu, writeMu, mu.
	writeMu sync.Mutex
	// mu guards cat, nextSegID and segment headers: apply and seal hold
	// it exclusively; readers hold it shared while taking snapshots.
	mu  sync.RWMutex
	cat *catalog
	// nextSegID is the next local segment ID (not replicated).
	nextSegID int64
	// reqTableSize bounds the request table (request.go):
	// RequestTableSize; tests lower it. Immutable after Open.
	reqTableSize int

	applied  atomic.Uint64 // last applied LSN
	ckptLSN  atomic.Uint64 // LSN covered by the current manifest
	walBytes atomic.Int64  // payload bytes appended since the last checkpoint

	failErr atomic.Pointer[error]      // first fatal error; nil while healthy
	failed  chan struct{}              // closed when failErr is set (Failed)
	disk    *diskGuard                 // low-disk guard (disk.go)
	gate    atomic.Pointer[gateBox]    // HA write gate (gate.go); nil = always allowed
	ackHook atomic.Pointer[ackHookBox] // replication acknowledgement hook (ackhook.go); nil = none
	closed  atomic.Bool

	// ckptMu allows one checkpoint at a time and guards segment.persisted
	// and tombFile.
	ckptMu   sync.Mutex
	tombFile string // tombstone file named by the current manifest
	ckptReq  chan struct{}
	stop     chan struct{}
	bgDone   chan struct{}
	closeMu  sync.Mutex
	// bgNotify, if set (tests), receives the result of every background
	// checkpoint. Set before the first write.
	bgNotify chan error
	// ix runs the background ANN index builds (indexbuild.go).
	ix *indexer
	// cmp runs compactions (compact.go).
	cmp *compactor
	// layoutChanged: a compaction changed the segment layout since the
	// last checkpoint, which must then be written even at an unchanged
	// LSN.
	layoutChanged atomic.Bool
	// tombSeq makes tombstone file names unique when a checkpoint is
	// rewritten at the same LSN.
	tombSeq atomic.Uint64
	// tail wakes WaitApplied callers when applied advances (tail.go).
	tail tailNotifier
	// pins hold WAL records for standbys (retention.go).
	pins pinSet
	// snapSeq numbers snapshot directories (snapshot.go).
	snapSeq atomic.Uint64
	// recent keeps the newest records in memory for replication senders;
	// appliedAt remembers when applied advanced (recent.go).
	recent    recentLog
	appliedAt appliedClock
}

// Open recovers (manifest + WAL replay) or creates the engine in cfg.DataDir.
func Open(cfg Config) (*Engine, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("engine: Config.DataDir is required")
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.SegmentMaxRows <= 0 {
		cfg.SegmentMaxRows = DefaultSegmentMaxRows
	}
	// Row numbers within a segment are int32 (row index, search hit IDs).
	cfg.SegmentMaxRows = min(cfg.SegmentMaxRows, maxSegmentRows)
	if cfg.CheckpointWALBytes <= 0 {
		cfg.CheckpointWALBytes = DefaultCheckpointWALBytes
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.Epoch == 0 {
		cfg.Epoch = 1
	}
	if cfg.WALRetainBytes == 0 {
		cfg.WALRetainBytes = DefaultWALRetainBytes
	}
	if cfg.RecentLogBytes == 0 {
		cfg.RecentLogBytes = DefaultRecentLogBytes
	}
	if cfg.MinFreeDiskBytes == 0 {
		cfg.MinFreeDiskBytes = DefaultMinFreeDiskBytes
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	e := &Engine{
		cfg:          cfg,
		failed:       make(chan struct{}),
		disk:         newDiskGuard(cfg.DataDir, cfg.MinFreeDiskBytes, logger),
		segDir:       filepath.Join(cfg.DataDir, "segments"),
		cat:          newCatalog(),
		ckptReq:      make(chan struct{}, 1),
		reqTableSize: RequestTableSize,
		stop:         make(chan struct{}),
		bgDone:       make(chan struct{}),
	}
	e.ix = newIndexer(e)
	e.cmp = newCompactor(e)
	e.recent.max = cfg.RecentLogBytes
	// A snapshot install interrupted by a crash is finished first; a
	// partial transfer or a stale snapshot being sent is removed.
	installLSN, installing, err := e.recoverInstall()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(e.segDir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	ckpt, err := e.loadCheckpoint()
	if err != nil {
		return nil, err
	}
	wopts := wal.Options{
		Dir:          filepath.Join(cfg.DataDir, "wal"),
		SyncInterval: cfg.SyncInterval,
		SegmentBytes: cfg.WALSegmentBytes,
		Logger:       cfg.Logger,
		OnFsync:      func(d time.Duration) { metrics.WALFsyncSeconds.Observe(d.Seconds()) },
		// A WAL failure fails the engine at once, even one the background
		// fsync hit with no writer waiting.
		OnFail: func(err error) { e.fail(err) },
	}
	if cfg.Sync == SyncInterval {
		wopts.Sync = wal.SyncInterval
	}
	if cfg.MaxRequestBytes+(1<<20) > wal.DefaultMaxRecordBytes {
		wopts.MaxRecordBytes = min(cfg.MaxRequestBytes*2+(1<<20), wal.MaxMaxRecordBytes)
	}
	l, err := wal.Open(wopts)
	if err != nil {
		return nil, fmt.Errorf("engine: open wal: %w", err)
	}
	e.wal = l
	if installing {
		if err := e.finishInstallWAL(installLSN, ckpt); err != nil {
			_ = l.Close()
			return nil, err
		}
	}
	if err := e.replay(ckpt); err != nil {
		_ = l.Close()
		return nil, err
	}
	e.appliedAt.reset(e.applied.Load())
	e.ix.start()
	e.cmp.start()
	go e.background()
	return e, nil
}

// replay brings the WAL in line with the checkpoint at lsn ckpt and applies
// every record after it.
func (e *Engine) replay(ckpt uint64) error {
	if e.wal.FirstLSN() == 0 && e.wal.LastLSN() < ckpt {
		// An empty log (new, or emptied by a snapshot install) behind the
		// checkpoint: it lacks nothing the checkpoint does not cover.
		if err := e.wal.SetNextLSN(ckpt + 1); err != nil {
			return fmt.Errorf("engine: wal: %w", err)
		}
	}
	if last := e.wal.LastLSN(); last < ckpt {
		// The log lost records the checkpoint covers (a WAL cut behind the
		// manifest); the state is the checkpoint's, continue after it.
		return fmt.Errorf("engine: wal ends at lsn %d, before the checkpoint at %d", last, ckpt)
	}
	e.applied.Store(ckpt)
	err := e.wal.Iterate(ckpt+1, func(r wal.Record) error {
		if r.LSN != e.applied.Load()+1 {
			return fmt.Errorf("engine: replay: lsn %d after %d", r.LSN, e.applied.Load())
		}
		body, err := decodeRecord(r.Type, r.Payload)
		if err != nil {
			return fmt.Errorf("engine: replay lsn %d: %w", r.LSN, err)
		}
		if err := e.apply(r.LSN, body); err != nil {
			return fmt.Errorf("engine: replay lsn %d: %w", r.LSN, err)
		}
		e.applied.Store(r.LSN)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: replay wal: %w", err)
	}
	return nil
}

// Close checkpoints, syncs and closes files. Idempotent.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed.Load() {
		return nil
	}
	close(e.stop)
	<-e.bgDone
	e.cmp.close()
	e.ix.close()
	var err error
	if e.failErr.Load() == nil && e.applied.Load() > e.ckptLSN.Load() {
		err = e.checkpoint(context.Background())
	}
	e.closed.Store(true)
	// Wait out writers in flight.
	e.writeMu.Lock()
	werr := e.wal.Close()
	e.writeMu.Unlock()
	return errors.Join(err, werr)
}

// abandon simulates a crash (tests only): stops background work and
// releases the WAL's files without a checkpoint. The page cache keeps what
// was written, as after a process kill.
func (e *Engine) abandon() {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed.Load() {
		return
	}
	close(e.stop)
	<-e.bgDone
	e.cmp.close()
	e.ix.close()
	e.closed.Store(true)
	e.writeMu.Lock()
	_ = e.wal.Close()
	e.writeMu.Unlock()
}

// errClosed is returned by calls on a closed engine.
var errClosed = merr.Wrap(merr.ErrServiceNotReady, "engine is closed")

// check returns the error every call gets once the engine failed or closed.
func (e *Engine) check() error {
	if p := e.failErr.Load(); p != nil {
		return fmt.Errorf("engine: %w", merr.Wrapf(merr.ErrServiceInternal, "storage engine failed: %v", *p))
	}
	if e.closed.Load() {
		return errClosed
	}
	return nil
}

// fail records the first fatal error, closes Failed's channel, and
// returns the error callers get.
func (e *Engine) fail(err error) error {
	if e.failErr.CompareAndSwap(nil, &err) {
		close(e.failed)
	}
	return e.check()
}

// Err returns nil while the engine is healthy, else why it is not.
func (e *Engine) Err() error { return e.check() }

// Failed is closed when the engine fails for good (a sticky WAL error such
// as ENOSPC on write or EIO on fsync, or an apply failure); Cause then says
// why. A failed engine refuses every write until it is reopened (after
// the operator fixed the cause: a restart recovers the WAL, cutting any
// torn tail the failure left). Not closed by Close.
func (e *Engine) Failed() <-chan struct{} { return e.failed }

// Cause returns why the engine failed ("" while healthy): the first fatal
// error, e.g. "wal append: wal: log failed: wal: write .../wal/...: no space
// left on device".
func (e *Engine) Cause() string {
	if p := e.failErr.Load(); p != nil {
		return (*p).Error()
	}
	return ""
}

// visibleLSN is the snapshot LSN for a new read: min(durable, applied).
func (e *Engine) visibleLSN() uint64 {
	a := e.applied.Load()
	return e.readLimit.cap(min(a, e.wal.DurableLSN()))
}

// commitLocked encodes body, appends it to the WAL and applies it. The
// caller holds writeMu and has validated the request. A failure here fails
// the engine.
func (e *Engine) commitLocked(typ wal.RecordType, body recBody, sizeHint int) (uint64, error) {
	payload, err := encodeRecord(body, sizeHint)
	if err != nil {
		return 0, e.fail(err)
	}
	return e.commitPayloadLocked(typ, payload, body)
}

// commitPayloadLocked is commitLocked with the payload already encoded.
func (e *Engine) commitPayloadLocked(typ wal.RecordType, payload []byte, body recBody) (uint64, error) {
	if err := e.check(); err != nil {
		return 0, err
	}
	if typ != RecEpochStart {
		// Refuse cleanly while the disk is nearly full, before the WAL
		// breaks; the epoch-start record of a promotion is tiny and exempt.
		if err := e.disk.admit(int64(len(payload)) + 64); err != nil {
			return 0, fmt.Errorf("engine: %w", err)
		}
	}
	epoch, err := e.stampEpoch(body)
	if err != nil {
		return 0, err
	}
	if _, ok := body.(*recEpochStart); !ok {
		// Failpoint "engine/write-admitted": a client write passed the
		// gate (its epoch is stamped) and holds the write lock; its record
		// is not appended yet. Tests pause here to race a switchover.
		if err := failpoint.Inject("engine/write-admitted"); err != nil {
			return 0, fmt.Errorf("engine: %w", err)
		}
	}
	lsn, err := e.wal.Append(epoch, typ, payload)
	if err != nil {
		if errors.Is(err, wal.ErrTooLarge) {
			return 0, fmt.Errorf("engine: %w", merr.Wrapf(merr.ErrParameterTooLarge, "record of %d bytes: %v", len(payload), err))
		}
		return 0, e.fail(fmt.Errorf("wal append: %w", err))
	}
	e.walBytes.Add(int64(len(payload)))
	e.mu.Lock()
	err = e.apply(lsn, body)
	e.mu.Unlock()
	if err != nil {
		return 0, e.fail(fmt.Errorf("apply lsn %d: %w", lsn, err))
	}
	e.committed(wal.Record{Epoch: epoch, LSN: lsn, Type: typ, Payload: payload})
	e.applied.Store(lsn)
	e.advanced(lsn)
	e.tail.advance()
	return lsn, nil
}

// waitDurable waits for lsn to be durable and nudges the background
// checkpointer when enough WAL has accumulated.
func (e *Engine) waitDurable(ctx context.Context, lsn uint64) error {
	if lsn == 0 {
		return nil
	}
	if err := e.wal.WaitDurable(ctx, lsn); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("engine: %w", ctx.Err())
		}
		return e.fail(fmt.Errorf("wal wait durable: %w", err))
	}
	if e.walBytes.Load() >= e.cfg.CheckpointWALBytes {
		select {
		case e.ckptReq <- struct{}{}:
		default:
		}
	}
	return nil
}

// write validates nothing: it commits body under writeMu and waits.
func (e *Engine) write(ctx context.Context, typ wal.RecordType, body recBody) error {
	e.writeMu.Lock()
	lsn, err := e.commitLocked(typ, body, 256)
	e.writeMu.Unlock()
	if err != nil {
		return err
	}
	return e.ackWrite(ctx, lsn)
}

// background runs checkpoints requested by waitDurable and refreshes the
// low-disk guard every diskCheckInterval.
func (e *Engine) background() {
	defer close(e.bgDone)
	tick := time.NewTicker(diskCheckInterval)
	defer tick.Stop()
	e.disk.refresh()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			e.disk.refresh()
		case <-e.ckptReq:
			if e.check() != nil {
				continue
			}
			err := e.checkpoint(context.Background())
			if e.bgNotify != nil {
				e.bgNotify <- err
			}
		}
	}
}

// LastLSN returns the last applied LSN.
func (e *Engine) LastLSN() uint64 { return e.applied.Load() }

// CheckpointLSN returns the LSN covered by the current checkpoint (0: none).
func (e *Engine) CheckpointLSN() uint64 { return e.ckptLSN.Load() }

// DataDir returns the engine's data directory.
func (e *Engine) DataDir() string { return e.cfg.DataDir }

// DurableLSN returns the WAL's durable LSN.
func (e *Engine) DurableLSN() uint64 { return e.wal.DurableLSN() }

// WaitDurable blocks until every record up to lsn is durable.
func (e *Engine) WaitDurable(ctx context.Context, lsn uint64) error {
	if err := e.check(); err != nil {
		return err
	}
	return e.waitDurable(ctx, lsn)
}

// Stats returns gauges for /metrics.
func (e *Engine) Stats() EngineStats {
	st := EngineStats{
		AppliedLSN:    e.applied.Load(),
		CheckpointLSN: e.ckptLSN.Load(),
		Disk:          e.Disk(),
		Broken:        e.Cause(),
	}
	if !e.closed.Load() {
		st.DurableLSN = e.wal.DurableLSN()
		st.WALBytes = e.wal.SizeBytes()
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	st.Collections = len(e.cat.colls)
	for _, c := range e.cat.colls {
		st.Rows += c.liveRows
		for _, p := range c.partitions {
			for _, s := range p.segs {
				if s.sealed {
					st.SealedSegs++
				} else {
					st.GrowingSegs++
				}
			}
		}
	}
	return st
}
