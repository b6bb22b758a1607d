package engine

import (
	"context"

	"github.com/tandem-db/tandem/internal/merr"
)

// AckHook runs before a client write is acknowledged, once its record at
// lsn is durable locally and before the write gate is asked a last time:
// synchronous replication waits there until enough standbys have the
// record durable. It is bounded by ctx (the request's context). An error
// fails the write, which is then durable locally but NOT acknowledged.
// Epoch-start records and replicated records (ApplyRecord) do not run it.
type AckHook func(ctx context.Context, lsn uint64) error

type ackHookBox struct{ h AckHook }

// SetAckHook installs h (nil removes it).
func (e *Engine) SetAckHook(h AckHook) {
	if h == nil {
		e.ackHook.Store(nil)
		return
	}
	e.ackHook.Store(&ackHookBox{h: h})
}

// runAckHook runs the hook, if any, for the write at lsn.
func (e *Engine) runAckHook(ctx context.Context, lsn uint64) error {
	b := e.ackHook.Load()
	if b == nil {
		return nil
	}
	err := b.h(ctx, lsn)
	if err == nil {
		return nil
	}
	return merr.Wrapf(merr.ErrServiceUnavailable,
		"write at lsn %d is durable on this node but NOT acknowledged: %v", lsn, err)
}
