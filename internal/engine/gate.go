package engine

import (
	"context"
	"errors"

	"github.com/tandem-db/tandem/internal/merr"
)

// WriteGate decides whether this node may accept and acknowledge client
// writes (HA: only the active, and only before its lease-derived deadline).
// The engine calls Allow
//
//   - when a write method starts, before validating anything, so a refused
//     write changes nothing;
//   - under the write lock just before the WAL append, taking the epoch to
//     stamp on the record;
//   - after the record is durable and before returning success: if the gate
//     refuses then, the write is durable locally but NOT acknowledged, and
//     the caller gets an error that says so.
//
// Allow must be cheap and safe for concurrent use. Epoch-start records
// (WriteEpochStart) and replicated records (ApplyRecord) bypass the gate.
type WriteGate interface {
	// Allow returns the epoch to stamp on a new record, or why client
	// writes are refused now (preferably a merr error; others are reported
	// as merr.ErrServiceUnavailable).
	Allow() (epoch uint64, err error)
}

// AckGate is an optional extension of WriteGate: if the gate implements
// it, the last check before a write is acknowledged calls AllowAck (with
// the write's LSN) instead of Allow. A gate that stops taking new writes
// while the ones already appended may still be acknowledged (a planned
// switchover draining its writes) refuses in Allow and accepts in
// AllowAck — up to the LSN it handed over (see WriteBarrier: a client
// write takes its epoch from Allow, appends and applies under the write
// lock, so after the gate stopped taking new writes the barrier's LSN is
// the last one at that epoch).
type AckGate interface {
	AllowAck(lsn uint64) error
}

// gateBox holds a WriteGate in an atomic.Pointer.
type gateBox struct{ g WriteGate }

// SetWriteGate installs g (nil removes it: every write is allowed and
// stamped with Config.Epoch, the standalone behaviour).
func (e *Engine) SetWriteGate(g WriteGate) {
	if g == nil {
		e.gate.Store(nil)
		return
	}
	e.gate.Store(&gateBox{g: g})
}

// admit asks the gate whether a client write may proceed and returns the
// epoch to stamp.
func (e *Engine) admit() (uint64, error) {
	if err := e.upstream.refuse(); err != nil { // read-only deployment (upstream.go)
		return 0, err
	}
	return e.admitGate()
}

// admitGate is admit without the read-only check (upstream records).
func (e *Engine) admitGate() (uint64, error) {
	b := e.gate.Load()
	if b == nil {
		return e.cfg.Epoch, nil
	}
	epoch, err := b.g.Allow()
	if err != nil {
		var me *merr.Error
		if !errors.As(err, &me) {
			err = merr.Wrapf(merr.ErrServiceUnavailable, "writes are refused: %v", err)
		}
		return 0, err
	}
	return epoch, nil
}

// stampEpoch is the epoch of the record body about to be appended: an
// epoch-start record carries its own; any other record asks the gate.
func (e *Engine) stampEpoch(body recBody) (uint64, error) {
	if es, ok := body.(*recEpochStart); ok {
		return es.epoch, nil
	}
	if _, ok := body.(*recUpstream); ok {
		return e.admitGate()
	}
	return e.admit()
}

// ackWrite waits until the record at lsn is durable and asks the gate once
// more before the write is acknowledged.
func (e *Engine) ackWrite(ctx context.Context, lsn uint64) error {
	if err := e.waitDurable(ctx, lsn); err != nil {
		return err
	}
	if lsn == 0 {
		return nil
	}
	if err := e.runAckHook(ctx, lsn); err != nil {
		return err
	}
	if err := e.admitAck(lsn); err != nil {
		return merr.Wrapf(merr.ErrServiceUnavailable,
			"write at lsn %d is durable on this node but NOT acknowledged (it may or may not survive a failover): %v", lsn, err)
	}
	return nil
}

// admitAck is the gate's last word before the write at lsn is
// acknowledged.
func (e *Engine) admitAck(lsn uint64) error {
	if b := e.gate.Load(); b != nil {
		if ag, ok := b.g.(AckGate); ok {
			return ag.AllowAck(lsn)
		}
	}
	_, err := e.admit()
	return err
}

// Position returns the local log's position: the epoch of the newest
// epoch-start record (0 if none) and the durable LSN.
func (e *Engine) Position() (epoch, lsn uint64) {
	e.mu.RLock()
	if n := len(e.cat.epochs); n > 0 {
		epoch = e.cat.epochs[n-1].Epoch
	}
	e.mu.RUnlock()
	if !e.closed.Load() {
		lsn = e.wal.DurableLSN()
	} else {
		lsn = e.applied.Load()
	}
	return epoch, lsn
}
