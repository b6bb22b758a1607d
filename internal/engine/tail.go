package engine

import (
	"context"
	"fmt"
	"sync"
)

// tailNotifier wakes replication senders waiting for records past an LSN.
// Its zero value is ready to use.
type tailNotifier struct {
	mu sync.Mutex
	ch chan struct{} // closed on the next advance; nil if nobody waits
}

// advance wakes every waiter (called after applied moves forward).
func (t *tailNotifier) advance() {
	t.mu.Lock()
	if t.ch != nil {
		close(t.ch)
		t.ch = nil
	}
	t.mu.Unlock()
}

// wait returns a channel closed on the next advance.
func (t *tailNotifier) wait() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ch == nil {
		t.ch = make(chan struct{})
	}
	return t.ch
}

// WaitApplied blocks until the applied LSN is >= lsn (the record is in
// this node's WAL and applied; it may not be durable yet), ctx ends, or
// the engine fails or closes. It returns the applied LSN.
func (e *Engine) WaitApplied(ctx context.Context, lsn uint64) (uint64, error) {
	for {
		ch := e.tail.wait()
		if a := e.applied.Load(); a >= lsn {
			return a, nil
		}
		if err := e.check(); err != nil {
			return e.applied.Load(), err
		}
		select {
		case <-ch:
		case <-e.stop:
			return e.applied.Load(), e.checkClosed()
		case <-ctx.Done():
			return e.applied.Load(), fmt.Errorf("engine: wait applied %d: %w", lsn, ctx.Err())
		}
	}
}

// checkClosed is check() for a caller that saw e.stop closed: Close may
// not have set closed yet.
func (e *Engine) checkClosed() error {
	if err := e.check(); err != nil {
		return err
	}
	return errClosed
}

// EpochStart says that epoch Epoch began at LSN LSN (an epoch-start
// record).
type EpochStart struct {
	Epoch uint64
	LSN   uint64
}

// EpochHistory returns the epoch history of the applied log, oldest first:
// one entry per applied epoch-start record. Records before the first entry
// were written without an epoch-start record (standalone).
func (e *Engine) EpochHistory() []EpochStart {
	e.mu.RLock()
	defer e.mu.RUnlock()
	h := make([]EpochStart, len(e.cat.epochs))
	for i, m := range e.cat.epochs {
		h[i] = EpochStart{Epoch: m.Epoch, LSN: m.LSN}
	}
	return h
}

// FirstWALLSN returns the LSN of the oldest record still in the WAL (0 if
// the WAL holds none): a sender can stream from any LSN >= it.
func (e *Engine) FirstWALLSN() uint64 {
	if e.check() != nil {
		return 0
	}
	return e.wal.FirstLSN()
}
