package engine

import (
	"sync"
	"time"
)

// WAL retention for standbys (docs/architecture.md §2: "WAL retention keeps what
// standbys and subscribers still need (bounded by size/time); older
// positions are served by snapshot instead").
//
// A checkpoint at LSN C truncates the WAL front up to C (whole files
// only). A WALPin asks it to keep every record from the pin's LSN on: the
// checkpoint truncates up to min(C, oldest pin - 1) instead, but never
// leaves more than Config.WALRetainBytes of WAL (it truncates at least to
// wal.Log.RetainBound). A pin may expire (Expire): once its deadline has
// passed it no longer holds anything. A reader whose records were
// truncated anyway gets wal.ErrTruncated from IterateWAL; a standby then
// gets a snapshot.

// DefaultWALRetainBytes is the default Config.WALRetainBytes.
const DefaultWALRetainBytes = 1 << 30

// WALPin holds WAL records from its LSN on against checkpoint truncation.
// Its methods are safe for concurrent use.
type WALPin struct {
	e        *Engine
	from     uint64    // guarded by e.pinMu
	deadline time.Time // zero: none; guarded by e.pinMu
}

// pinSet is the engine's set of live pins.
type pinSet struct {
	mu   sync.Mutex
	pins map[*WALPin]struct{}
}

// PinWAL returns a pin holding every record with LSN >= from (0 holds
// nothing until Move). Release it when done.
func (e *Engine) PinWAL(from uint64) *WALPin {
	p := &WALPin{e: e, from: from}
	e.pins.mu.Lock()
	if e.pins.pins == nil {
		e.pins.pins = map[*WALPin]struct{}{}
	}
	e.pins.pins[p] = struct{}{}
	e.pins.mu.Unlock()
	return p
}

// Move makes the pin hold records from from on (the reader has what is
// before) and clears any expiry.
func (p *WALPin) Move(from uint64) {
	p.e.pins.mu.Lock()
	p.from, p.deadline = from, time.Time{}
	p.e.pins.mu.Unlock()
}

// From returns the first LSN the pin holds (0: none).
func (p *WALPin) From() uint64 {
	p.e.pins.mu.Lock()
	defer p.e.pins.mu.Unlock()
	return p.from
}

// Expire makes the pin stop holding anything once d has passed (a
// disconnected standby's position is kept for a while); Move clears it.
func (p *WALPin) Expire(d time.Duration) {
	p.e.pins.mu.Lock()
	p.deadline = time.Now().Add(d)
	p.e.pins.mu.Unlock()
}

// Release drops the pin. Idempotent.
func (p *WALPin) Release() {
	p.e.pins.mu.Lock()
	delete(p.e.pins.pins, p)
	p.e.pins.mu.Unlock()
}

// oldestPinned returns the smallest LSN a live pin holds (0: none),
// dropping expired pins.
func (e *Engine) oldestPinned() uint64 {
	now := time.Now()
	e.pins.mu.Lock()
	defer e.pins.mu.Unlock()
	var oldest uint64
	for p := range e.pins.pins {
		if !p.deadline.IsZero() && now.After(p.deadline) {
			delete(e.pins.pins, p)
			continue
		}
		if p.from > 0 && (oldest == 0 || p.from < oldest) {
			oldest = p.from
		}
	}
	return oldest
}

// truncateUpTo returns how far a checkpoint at c may truncate the WAL
// front, honouring pins within Config.WALRetainBytes.
func (e *Engine) truncateUpTo(c uint64) uint64 {
	if e.cfg.WALRetainBytes < 0 {
		return c
	}
	oldest := e.oldestPinned()
	if oldest == 0 || oldest > c {
		return c
	}
	upTo := oldest - 1
	if bound := e.wal.RetainBound(e.cfg.WALRetainBytes); bound > upTo {
		upTo = min(bound, c)
		e.logger().Warn("engine: WAL retention bound reached; a standby behind it will need a snapshot",
			"pinned_from", oldest, "truncate_up_to", upTo, "wal_retain_bytes", e.cfg.WALRetainBytes)
	}
	return upTo
}
