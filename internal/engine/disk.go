package engine

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-db/tandem/internal/merr"
)

// Low-disk guard.
//
// A WAL write that hits a full file system fails the log for good (the
// engine is then broken and an HA node resigns, see Failed). To refuse
// cleanly before that, writers ask the guard first: once a write would
// leave the file system holding DataDir with fewer than
// Config.MinFreeDiskBytes available (to unprivileged users: statfs
// f_bavail), new client writes are refused with a Milvus "disk limit
// exceeded" error that names the free space, the data dir and the
// threshold, until a reading shows MinFreeDiskBytes * 5/4 free again; reads, replication into a standby and the
// epoch-start record of a promotion are not refused. Below twice the
// threshold the guard logs a warning (once per episode). The guard
// re-reads statfs at most every diskCheckInterval, and before any write
// that could bring the estimate (last reading minus bytes admitted since)
// within twice the threshold, so a burst of big writes cannot overshoot it
// by more than one write. The background loop refreshes it every
// diskCheckInterval, so the state (Stats) recovers once space is freed.

// DefaultMinFreeDiskBytes is the default Config.MinFreeDiskBytes: 256 MiB,
// room for a few WAL segment files and a checkpoint's manifest. A flat
// amount, not a fraction: 5% of a large disk is far more than the WAL
// needs to stop cleanly.
const DefaultMinFreeDiskBytes int64 = 256 << 20

// diskCheckInterval is how stale a statfs reading may be.
const diskCheckInterval = time.Second

// diskGuard tracks the free space of the data dir's file system.
type diskGuard struct {
	dir    string
	min    int64 // threshold in bytes; <= 0: the guard is off
	logger *slog.Logger
	// statfs returns the bytes available to unprivileged users and the
	// file system's size (tests replace it).
	statfs func(dir string) (avail, total int64, err error)

	mu        sync.Mutex
	checkedAt time.Time // last statfs; guarded by mu
	avail     int64     // bytes available at checkedAt; guarded by mu
	since     int64     // bytes admitted since checkedAt; guarded by mu
	warned    bool      // a "nearly full" warning was logged; guarded by mu

	free atomic.Int64 // last reading (for Stats); -1 before the first
	low  atomic.Bool  // free space reached min: new writes are refused (see admit)
}

func newDiskGuard(dir string, min int64, logger *slog.Logger) *diskGuard {
	g := &diskGuard{dir: dir, min: min, logger: logger, statfs: statfsAvail}
	g.free.Store(-1)
	return g
}

func statfsAvail(dir string) (avail, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("engine: statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// admit reports whether a write of about n bytes may proceed: nil, or a
// Milvus ErrServiceDiskLimit error saying how full the disk is. A write
// that would leave less than min free puts the guard in the low state, in
// which every write is refused until a reading shows min + min/4 free
// (hysteresis: no flapping between refusals and small writes). A failing
// statfs admits the write (the WAL reports real failures).
func (g *diskGuard) admit(n int64) error {
	if g.min <= 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.checkedAt.IsZero() || now.Sub(g.checkedAt) >= diskCheckInterval || g.avail-g.since-n < 2*g.min {
		if err := g.refreshLocked(now); err != nil {
			return nil
		}
	}
	free := g.avail - g.since
	if g.low.Load() || free-n < g.min {
		if !g.low.Swap(true) {
			g.logger.Warn("disk nearly full: refusing new writes until space is freed",
				"dir", g.dir, "free_bytes", free, "write_bytes", n, "min_free_bytes", g.min)
		}
		return merr.Wrapf(merr.ErrServiceDiskLimit,
			"disk nearly full: %d bytes free under %s, the minimum is %d bytes (--min-free-disk); new writes are refused until space is freed",
			max(free, 0), g.dir, g.min)
	}
	g.since += n
	return nil
}

// refresh re-reads the free space (background loop).
func (g *diskGuard) refresh() {
	if g.min <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.refreshLocked(time.Now())
}

func (g *diskGuard) refreshLocked(now time.Time) error {
	avail, total, err := g.statfs(g.dir)
	if err != nil {
		return err
	}
	g.checkedAt, g.avail, g.since = now, avail, 0
	g.free.Store(avail)
	wasLow := g.low.Load()
	low := avail < g.min || (wasLow && avail < g.min+g.min/4)
	g.low.Store(low)
	if wasLow && !low {
		g.logger.Info("disk space recovered: writes accepted again", "dir", g.dir, "free_bytes", avail, "min_free_bytes", g.min)
	}
	switch {
	case avail < 2*g.min && !g.warned:
		g.warned = true
		g.logger.Warn("disk nearly full: new writes are refused below the minimum free space (--min-free-disk); free space before the WAL fails",
			"dir", g.dir, "free_bytes", avail, "total_bytes", total, "min_free_bytes", g.min)
	case avail >= 2*g.min:
		g.warned = false
	}
	return nil
}

// DiskStatus is the low-disk guard's view of the data dir's file system.
type DiskStatus struct {
	// FreeBytes available to the engine at the last check (-1: not
	// checked yet, or the guard is off).
	FreeBytes int64 `json:"free_bytes"`
	// MinFreeBytes is the threshold (0: the guard is off).
	MinFreeBytes int64 `json:"min_free_bytes"`
	// Low: the free space reached the threshold; new writes are refused
	// until MinFreeBytes * 5/4 are free again.
	Low bool `json:"low"`
}

// Disk returns the low-disk guard's state.
func (e *Engine) Disk() DiskStatus {
	g := e.disk
	return DiskStatus{FreeBytes: g.free.Load(), MinFreeBytes: max(g.min, 0), Low: g.low.Load()}
}
