package engine

import "sync/atomic"

// readLimit caps the LSN reads see. Sync-mode replication uses it so that
// a read on the active never returns a write that a failover could lose:
// the node advances it to the LSN every standby of the sync set has
// durable. Disabled (the default), reads see min(applied, durable).
type readLimit struct {
	on  atomic.Bool
	lsn atomic.Uint64
	// ever: the limit was enabled at some point (compaction then never
	// purges above lsn, see purgeHorizon).
	ever atomic.Bool
}

func (r *readLimit) cap(v uint64) uint64 {
	if r.on.Load() {
		return min(v, r.lsn.Load())
	}
	return v
}

// SetReadLimit enables (on) or disables the read limit; when enabling, it
// starts at lsn. While enabled, queries, searches, gets and Digest see no
// record above the limit (they still see everything at or below it that
// is applied and durable).
func (e *Engine) SetReadLimit(on bool, lsn uint64) {
	if on {
		e.readLimit.ever.Store(true)
	}
	e.readLimit.lsn.Store(lsn)
	e.readLimit.on.Store(on)
}

// AdvanceReadLimit raises the read limit to lsn (never lowers it).
func (e *Engine) AdvanceReadLimit(lsn uint64) {
	for {
		cur := e.readLimit.lsn.Load()
		if lsn <= cur || e.readLimit.lsn.CompareAndSwap(cur, lsn) {
			return
		}
	}
}

// ReadLimit reports whether the read limit is on, and its LSN.
func (e *Engine) ReadLimit() (on bool, lsn uint64) {
	return e.readLimit.on.Load(), e.readLimit.lsn.Load()
}
