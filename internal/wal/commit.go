package wal

import (
	"context"
	"fmt"
	"time"
)

// syncLoop is the dedicated fsync goroutine. In SyncFsync mode it runs an
// fsync whenever a WaitDurable caller asks; callers arriving while one is in
// flight coalesce into the next (group commit). In SyncInterval mode it also
// runs one every Options.SyncInterval. Failures are sticky (syncOnce).
func (l *Log) syncLoop() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.stop:
			return
		case <-l.syncReq:
		case <-tick:
		}
		_ = l.syncOnce()
	}
}

// syncOnce fdatasyncs the active segment if it holds unsynced records and
// publishes the new synced LSN. Earlier segments are already durable (synced
// when rolled). mu is not held during the fsync: appends continue meanwhile,
// and the fsync covers at least every record written before it started.
func (l *Log) syncOnce() error {
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	target := l.nextLSN - 1
	if target <= l.synced || l.active == nil {
		l.mu.Unlock()
		return nil
	}
	sf, gen := l.active, l.gen
	sf.refs++
	l.mu.Unlock()

	start := l.now()
	err := syncFile(sf.f)
	if err == nil {
		l.reportFsync(start)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(sf)
	if err != nil {
		return l.failLocked(fmt.Errorf("wal: fsync: %w", err))
	}
	if gen == l.gen {
		l.publishSyncedLocked(target)
	}
	return nil
}

// WaitDurable blocks until every record with LSN <= lsn is durable (fsynced
// in SyncFsync mode; written in SyncInterval mode), or ctx ends (returning an
// error wrapping ctx.Err()). Concurrent waiters share one fsync, done by the
// log's sync goroutine. It returns an error wrapping ErrNotAppended if lsn >
// LastLSN(), the sticky failure if the log failed, and ErrClosed if called
// after Close (a caller already waiting when Close runs gets nil if Close's
// final fsync covered lsn).
func (l *Log) WaitDurable(ctx context.Context, lsn uint64) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	for {
		switch {
		case l.err != nil:
			err := l.err
			l.mu.Unlock()
			return err
		case lsn <= l.durableLocked():
			l.mu.Unlock()
			return nil
		case l.closed:
			l.mu.Unlock()
			return ErrClosed
		case lsn >= l.nextLSN:
			last := l.nextLSN - 1
			l.mu.Unlock()
			return fmt.Errorf("wal: wait durable %d: last lsn is %d: %w", lsn, last, ErrNotAppended)
		}
		changed := l.changed
		l.mu.Unlock()

		select {
		case l.syncReq <- struct{}{}:
		default: // a request is already pending; it will cover lsn
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wal: wait durable %d: %w", lsn, ctx.Err())
		}
		l.mu.Lock()
	}
}

// Sync fsyncs everything appended so far, now, in the caller's goroutine.
func (l *Log) Sync() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return l.syncOnce()
}

// StartSync asks the sync goroutine for an fsync of everything appended so
// far and returns at once (a later WaitDurable finds it done or under
// way): a caller that has more work before it waits overlaps the fsync
// with that work. No-op in SyncInterval mode.
func (l *Log) StartSync() {
	if l.opts.Sync == SyncInterval {
		return
	}
	select {
	case l.syncReq <- struct{}{}:
	default: // a request is already pending
	}
}
