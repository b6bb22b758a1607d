package wal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// smallRecordBytes: payloads up to this size are copied behind their frame
// header and written with one write(2); larger ones are written as header +
// payload (two writes, no copy).
const smallRecordBytes = 64 << 10

// Log is an open write-ahead log. All methods are safe for concurrent use.
//
// Lock order: adminMu, then mu. Neither is held across a segment fsync
// issued by the sync goroutine; mu is held across write(2) and across the
// fsyncs of a segment roll.
type Log struct {
	opts   Options
	logger *slog.Logger
	lock   *os.File     // Dir/LOCK, flock-ed while open; set by Open
	info   RecoveryInfo // set by Open, read-only afterwards

	// adminMu serializes TruncateFront, TruncateBack, SetNextLSN and Close.
	adminMu sync.Mutex

	mu sync.Mutex
	// segs are the segment files on disk in LSN order; the last is the
	// active one. Non-last segments hold >= 1 record. Guarded by mu.
	segs []*segment
	// active is the open handle of segs[len(segs)-1]; nil iff segs is empty.
	// Guarded by mu.
	active *segFile
	// nextLSN is the LSN the next Append gets. Guarded by mu.
	nextLSN uint64
	// synced: every record with LSN <= synced has been fsynced. Guarded by mu.
	synced uint64
	// gen changes whenever the LSN space is rewritten (TruncateBack,
	// SetNextLSN) so an fsync issued before cannot publish a stale LSN.
	// Guarded by mu.
	gen uint64
	// err is the sticky failure; once set every call returns it. Guarded by mu.
	err error
	// closing: Close has started; appends are refused. closed: Close has
	// finished; everything is refused. Guarded by mu.
	closing, closed bool
	// changed is closed (and replaced) when synced advances or the log fails,
	// closes or is rewritten, waking WaitDurable callers. Guarded by mu.
	changed chan struct{}
	// hdr and scratch are frame-building buffers. Guarded by mu.
	hdr     [frameHeaderSize]byte
	scratch []byte

	syncReq chan struct{} // capacity 1: a WaitDurable caller needs an fsync
	stop    chan struct{} // closed by Close to stop the sync goroutine
	done    chan struct{} // closed when the sync goroutine has exited
}

// segFile is an open segment file. It is closed once it is no longer the
// active file and no fsync is using it.
type segFile struct {
	f       *os.File
	refs    int  // fsyncs in flight on f; guarded by Log.mu
	retired bool // no longer Log.active; guarded by Log.mu
}

// Open opens (creating if needed) the log in opts.Dir and recovers it: every
// frame is validated and the log is cut at the first torn or corrupt frame
// (that file is truncated, later files are moved to Dir/corrupt/). Nothing
// past a bad frame is ever returned. See Recovery for what was found.
func Open(opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: open lock file: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("wal: lock %s: %w", opts.Dir, err)
	}
	l := &Log{
		opts:    opts,
		logger:  opts.Logger,
		lock:    lock,
		changed: make(chan struct{}),
		syncReq: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := l.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	go l.syncLoop()
	return l, nil
}

// Recovery returns what Open found and cut.
func (l *Log) Recovery() RecoveryInfo {
	info := l.info
	info.RemovedFiles = append([]string(nil), l.info.RemovedFiles...)
	return info
}

// Append assigns LSN = LastLSN()+1, writes the frame to the OS (not
// necessarily fsynced; see WaitDurable) and returns the LSN. The log does not
// retain payload. After an I/O error the log is failed and every later call
// returns that error.
func (l *Log) Append(epoch uint64, typ RecordType, payload []byte) (uint64, error) {
	if int64(len(payload)) > l.opts.MaxRecordBytes {
		return 0, fmt.Errorf("wal: append %d bytes (MaxRecordBytes %d): %w", len(payload), l.opts.MaxRecordBytes, ErrTooLarge)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	lsn := l.nextLSN
	if err := l.appendLocked(epoch, lsn, typ, payload); err != nil {
		return 0, err
	}
	return lsn, nil
}

// AppendRecord appends r, whose LSN must equal LastLSN()+1 (else an error
// wrapping ErrLSNGap); used by replication to copy another log.
func (l *Log) AppendRecord(r Record) error {
	if int64(len(r.Payload)) > l.opts.MaxRecordBytes {
		return fmt.Errorf("wal: append %d bytes (MaxRecordBytes %d): %w", len(r.Payload), l.opts.MaxRecordBytes, ErrTooLarge)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if r.LSN != l.nextLSN {
		return fmt.Errorf("wal: append record lsn %d, want %d: %w", r.LSN, l.nextLSN, ErrLSNGap)
	}
	return l.appendLocked(r.Epoch, r.LSN, r.Type, r.Payload)
}

// writableLocked returns why the log refuses writes, or nil.
func (l *Log) writableLocked() error {
	if l.err != nil {
		return l.err
	}
	if l.closing {
		return ErrClosed
	}
	return nil
}

// appendLocked writes one frame with LSN lsn == l.nextLSN, rolling to a new
// segment first if needed. Requires l.mu.
func (l *Log) appendLocked(epoch, lsn uint64, typ RecordType, payload []byte) error {
	if l.active == nil || l.needRollLocked() {
		if err := l.rollLocked(); err != nil {
			return l.failLocked(err)
		}
	}
	seg := l.segs[len(l.segs)-1]
	h := l.hdr[:]
	encodeFrameHeader(h, epoch, lsn, typ, payload)
	var err error
	// Failpoint wal/write: the frame's write(2) fails with ENOSPC (nothing
	// is written), as on a full file system.
	if ferr := failpoint.Inject("wal/write"); ferr != nil {
		return l.failLocked(fmt.Errorf("wal: write %s: %w (%w)", seg.path, syscall.ENOSPC, ferr))
	}
	if len(payload) <= smallRecordBytes {
		l.scratch = append(append(l.scratch[:0], h...), payload...)
		_, err = l.active.f.Write(l.scratch)
	} else {
		if _, err = l.active.f.Write(h); err == nil {
			_, err = l.active.f.Write(payload)
		}
	}
	if err != nil {
		return l.failLocked(fmt.Errorf("wal: write %s: %w", seg.path, err))
	}
	seg.count++
	seg.size += int64(frameHeaderSize + len(payload))
	l.nextLSN++
	return nil
}

// needRollLocked reports whether the active segment is full.
func (l *Log) needRollLocked() bool {
	seg := l.segs[len(l.segs)-1]
	return seg.count > 0 && seg.size >= l.opts.SegmentBytes
}

// rollLocked makes the active segment (if any) durable, retires it and
// creates the segment for l.nextLSN. Syncing the old file first means only
// the last file can ever hold a torn tail. Requires l.mu.
func (l *Log) rollLocked() error {
	if l.active != nil {
		start := l.now()
		if err := syncFile(l.active.f); err != nil {
			return fmt.Errorf("wal: sync %s: %w", l.segs[len(l.segs)-1].path, err)
		}
		l.reportFsync(start)
		l.publishSyncedLocked(l.nextLSN - 1)
		l.retireLocked(l.active)
		l.active = nil
	}
	f, seg, err := createSegment(l.opts.Dir, l.nextLSN)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, seg)
	l.active = &segFile{f: f}
	return nil
}

// retireLocked marks sf as no longer active and closes it unless an fsync
// still uses it. Requires l.mu.
func (l *Log) retireLocked(sf *segFile) {
	sf.retired = true
	l.maybeCloseLocked(sf)
}

// releaseLocked drops an fsync's reference to sf. Requires l.mu.
func (l *Log) releaseLocked(sf *segFile) {
	sf.refs--
	l.maybeCloseLocked(sf)
}

func (l *Log) maybeCloseLocked(sf *segFile) {
	if sf.retired && sf.refs == 0 && sf.f != nil {
		if err := sf.f.Close(); err != nil {
			l.logger.Warn("wal: close segment", "file", sf.f.Name(), "err", err)
		}
		sf.f = nil
	}
}

// failLocked makes err the log's sticky failure (if none yet), wakes all
// waiters, calls Options.OnFail once and returns the sticky error.
// Requires l.mu.
func (l *Log) failLocked(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("wal: log failed: %w", err)
		l.logger.Error("wal: log failed; every later call returns this error", "dir", l.opts.Dir, "err", err)
		l.notifyLocked()
		if l.opts.OnFail != nil {
			l.opts.OnFail(l.err)
		}
	}
	return l.err
}

// Err returns the log's sticky failure (nil while healthy): once set,
// every later write, fsync and wait returns it, until the log is closed
// and opened again (recovery cuts any torn tail the failure left).
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// syncFile fdatasyncs a segment file. Failpoint wal/fsync: the fsync
// fails with EIO (the file is not synced), as after a device error.
func syncFile(f *os.File) error {
	if ferr := failpoint.Inject("wal/fsync"); ferr != nil {
		return fmt.Errorf("fdatasync %s: %w (%w)", f.Name(), syscall.EIO, ferr)
	}
	return fdatasync(f)
}

// notifyLocked wakes every WaitDurable caller. Requires l.mu.
func (l *Log) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// publishSyncedLocked records that every record with LSN <= lsn is fsynced.
// Requires l.mu.
func (l *Log) publishSyncedLocked(lsn uint64) {
	if lsn > l.synced {
		l.synced = lsn
		l.markSyncedLocked()
		l.notifyLocked()
	}
}

// firstAvailLocked returns the LSN of the oldest record that is or could be
// on disk: the first segment's first LSN, or nextLSN if there is none.
func (l *Log) firstAvailLocked() uint64 {
	if len(l.segs) == 0 {
		return l.nextLSN
	}
	return l.segs[0].firstLSN
}

// FirstLSN returns the LSN of the first record still on disk (0 if the log
// holds no records).
func (l *Log) FirstLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if first := l.firstAvailLocked(); first < l.nextLSN {
		return first
	}
	return 0
}

// LastLSN returns the LSN of the last appended record (0 if none ever was;
// n-1 after SetNextLSN(n)).
func (l *Log) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextLSN - 1
}

// DurableLSN returns the highest LSN for which WaitDurable returns at once:
// the last fsynced LSN in SyncFsync mode, LastLSN in SyncInterval mode.
func (l *Log) DurableLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durableLocked()
}

func (l *Log) durableLocked() uint64 {
	if l.opts.Sync == SyncInterval {
		return l.nextLSN - 1
	}
	return l.synced
}

// SizeBytes returns the bytes of all segment files on disk (headers
// included; Dir/corrupt/ excluded).
func (l *Log) SizeBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Close fsyncs everything appended, closes the files and releases Dir. It
// is idempotent: later calls return nil. It returns the sticky failure if
// the log had failed. Every other call on a closed log returns ErrClosed.
func (l *Log) Close() error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	l.mu.Unlock()

	close(l.stop)
	<-l.done
	err := l.syncOnce()

	l.mu.Lock()
	l.closed = true
	if l.active != nil {
		if l.active.refs == 0 {
			if cerr := l.active.f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("wal: close %s: %w", l.active.f.Name(), cerr)
			}
			l.active.f = nil
		}
		l.retireLocked(l.active)
	}
	l.notifyLocked()
	if l.err != nil {
		err = l.err
	}
	l.mu.Unlock()

	if cerr := l.lock.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: release lock: %w", cerr)
	}
	return err
}

// now and reportFsync time fsyncs for Options.OnFsync.
func (l *Log) now() time.Time { return time.Now() }

func (l *Log) reportFsync(start time.Time) {
	if l.opts.OnFsync != nil {
		l.opts.OnFsync(time.Since(start))
	}
}
