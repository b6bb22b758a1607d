package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// leaderWatch follows the group's leader key: one read, then a watch from
// that revision; when the watch fails (compaction, lost quorum, closed
// client) it reads again and watches again, with a bounded backoff. While
// the arbiter cannot be read it keeps the last known active: the nodes
// themselves refuse traffic when they are not the active, and a refusal
// only makes the proxy retry.
type leaderWatch struct {
	g   *arbiter.Group
	log *slog.Logger
	m   *metrics

	mu       sync.Mutex
	cur      *arbiter.Leader // nil: no active
	changed  chan struct{}   // closed and replaced at every change
	switches int64           // times the active became a different node or epoch
	last     *arbiter.Leader // the last non-nil active (for switch counting)
	since    time.Time       // when cur was set
	synced   bool            // the first read succeeded
	ready    chan struct{}   // closed after the first successful read
}

func newLeaderWatch(g *arbiter.Group, log *slog.Logger, m *metrics) *leaderWatch {
	return &leaderWatch{g: g, log: log, m: m, changed: make(chan struct{}), ready: make(chan struct{}), since: time.Now()}
}

// get returns the current active (nil if none) and a channel closed at the
// next change.
func (w *leaderWatch) get() (*arbiter.Leader, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.changed
}

// view is a snapshot for /status.
type leaderView struct {
	Active   *arbiter.Leader
	Since    time.Time
	Switches int64
	Synced   bool
}

func (w *leaderWatch) view() leaderView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return leaderView{Active: w.cur, Since: w.since, Switches: w.switches, Synced: w.synced}
}

// set records l (nil: no active) as the current active.
func (w *leaderWatch) set(l *arbiter.Leader) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sameLeader(w.cur, l) {
		return
	}
	prev := w.cur
	w.cur = l
	w.since = time.Now()
	if l != nil && w.last != nil && !sameLeader(w.last, l) {
		w.switches++
		w.m.switches.Inc()
	}
	if l != nil {
		w.last = l
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.m.setActive(prev, l)
	if l == nil {
		w.log.Warn("proxy: no active in group; holding requests", "group", w.g.Name(),
			"previous", leaderID(prev))
	} else {
		w.log.Info("proxy: active changed", "group", w.g.Name(), "node", l.NodeID, "addr", l.Addr,
			"epoch", l.Epoch, "previous", leaderID(prev), "switches", w.switches)
	}
}

func (w *leaderWatch) markSynced() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		w.synced = true
		close(w.ready)
	}
}

func leaderID(l *arbiter.Leader) string {
	if l == nil {
		return "none"
	}
	return l.NodeID
}

func sameLeader(a, b *arbiter.Leader) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.NodeID == b.NodeID && a.Addr == b.Addr && a.Epoch == b.Epoch
}

// run follows the leader key until ctx ends.
func (w *leaderWatch) run(ctx context.Context) {
	var delay time.Duration
	for ctx.Err() == nil {
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
		}
		delay = min(max(2*delay, 100*time.Millisecond), 2*time.Second)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, rev, err := w.g.Leader(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("proxy: read leader key; keeping the last known active", "group", w.g.Name(), "err", err)
				w.m.arbiterErrors.Inc()
			}
			continue
		}
		w.set(l)
		w.markSynced()
		for ev := range w.g.Watch(ctx, rev) {
			switch ev.Kind {
			case arbiter.EventLeaderSet:
				w.set(ev.Leader)
				delay = 0
			case arbiter.EventLeaderDeleted:
				w.set(nil)
				delay = 0
			case arbiter.EventErr:
				if ctx.Err() == nil {
					w.log.Warn("proxy: leader watch interrupted; reading again", "group", w.g.Name(), "err", ev.Err)
					w.m.arbiterErrors.Inc()
				}
			}
		}
	}
}
