package wal

import (
	"errors"
	"fmt"
	"os"
	"sort"
)

// maxNextLSN bounds SetNextLSN so LSN arithmetic cannot overflow.
const maxNextLSN = 1 << 62

// TruncateFront removes, oldest first, every whole segment file all of whose
// records have LSN <= upTo (retention after a checkpoint). It never removes
// the file holding LastLSN, so FirstLSN may stay <= upTo. If removing a file
// fails, the files not yet removed stay part of the log and the error is
// returned; the log stays usable.
func (l *Log) TruncateFront(upTo uint64) error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].lastLSN() <= upTo {
		n++
	}
	if n == 0 {
		l.mu.Unlock()
		return nil
	}
	drop := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.mu.Unlock()

	// Non-active files are closed already. Removing oldest first keeps the
	// files left after a crash or failure contiguous.
	for i, s := range drop {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.mu.Lock()
			l.segs = append(drop[i:len(drop):len(drop)], l.segs...)
			l.mu.Unlock()
			return fmt.Errorf("wal: truncate front: %w", err)
		}
	}
	return syncDir(l.opts.Dir)
}

// TruncateBack durably removes every record with LSN > after, so LastLSN()
// becomes after (used by HA when logs diverge). after may be FirstLSN()-1,
// which empties the log while keeping its position: the next Append gets
// after+1. An after below that returns an error wrapping ErrTruncated. I/O
// errors fail the log. Do not run it concurrently with Iterate or
// WaitDurable on the removed LSNs (those calls then fail).
func (l *Log) TruncateBack(after uint64) error {
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if after >= l.nextLSN-1 {
		return nil
	}
	if first := l.firstAvailLocked(); after+1 < first {
		return fmt.Errorf("wal: truncate back to %d: first lsn on disk is %d: %w", after, first, ErrTruncated)
	}
	cut := after + 1 // first LSN to remove
	k := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].firstLSN > cut }) - 1
	seg := l.segs[k]
	off, err := frameOffset(seg, cut, l.opts.MaxRecordBytes)
	if err != nil {
		return l.failLocked(err)
	}

	// Remove later files newest first, make that durable, then cut file k:
	// a crash at any point leaves a valid log (maybe longer than asked).
	if k < len(l.segs)-1 {
		l.retireLocked(l.active)
		l.active = nil
		for i := len(l.segs) - 1; i > k; i-- {
			if err := os.Remove(l.segs[i].path); err != nil {
				return l.failLocked(fmt.Errorf("wal: truncate back: %w", err))
			}
			l.segs = l.segs[:i]
		}
		if err := syncDir(l.opts.Dir); err != nil {
			return l.failLocked(err)
		}
	}
	if err := truncateFile(seg.path, off); err != nil {
		return l.failLocked(err)
	}
	if l.active == nil {
		f, err := openSegmentForAppend(seg.path)
		if err != nil {
			return l.failLocked(err)
		}
		l.active = &segFile{f: f}
	}
	seg.count = cut - seg.firstLSN
	seg.size = off
	l.nextLSN = cut
	l.synced = after // truncateFile fsynced file k; earlier files were synced when rolled
	l.markSyncedLocked()
	l.gen++
	l.notifyLocked()
	return nil
}

// frameOffset returns the byte offset in s of the frame with LSN lsn
// (s.firstLSN <= lsn <= s.lastLSN()), walking the frame headers.
func frameOffset(s *segment, lsn uint64, maxLen int64) (int64, error) {
	if lsn == s.firstLSN {
		return segHeaderSize, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("wal: open %s: %w", s.path, err)
	}
	defer f.Close()
	r := newFrameReader(f, segHeaderSize, s.size)
	for want := s.firstLSN; want < lsn; want++ {
		off := r.off
		if r.remaining() < frameHeaderSize {
			return 0, fmt.Errorf("wal: %s:%d: file shorter than expected: %w", s.path, off, ErrCorrupt)
		}
		h, err := r.readHeader()
		if err != nil {
			return 0, fmt.Errorf("wal: read %s at %d: %w", s.path, off, err)
		}
		if h.lsn != want || int64(h.length) > maxLen || int64(h.length) > r.remaining() {
			return 0, fmt.Errorf("wal: %s:%d: bad frame header (lsn %d, want %d; length %d): %w", s.path, off, h.lsn, want, h.length, ErrCorrupt)
		}
		r.skip(int64(h.length))
	}
	return r.off, nil
}

// SetNextLSN makes the next Append get LSN n (so LastLSN() reports n-1). It
// is allowed only when the log holds no records (else an error wrapping
// ErrNotEmpty); used when a node restores from a checkpoint or snapshot at
// LSN n-1. The position is persisted as a header-only segment file named n
// (created durably) and survives reopen. n must be in [1, 2^62].
func (l *Log) SetNextLSN(n uint64) error {
	if n == 0 || n > maxNextLSN {
		return fmt.Errorf("wal: SetNextLSN(%d): must be in [1, %d]", n, uint64(maxNextLSN))
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if l.firstAvailLocked() < l.nextLSN {
		return fmt.Errorf("wal: SetNextLSN(%d): log holds lsn %d..%d: %w", n, l.firstAvailLocked(), l.nextLSN-1, ErrNotEmpty)
	}
	if len(l.segs) == 1 && l.segs[0].firstLSN == n {
		return nil
	}
	// Remove the old (empty) segment first, so no two header-only files can
	// coexist: a crash before the new one is durable leaves an empty
	// directory (next LSN 1) and the unacknowledged call must be repeated.
	if len(l.segs) == 1 {
		l.retireLocked(l.active)
		l.active = nil
		if err := os.Remove(l.segs[0].path); err != nil {
			return l.failLocked(fmt.Errorf("wal: SetNextLSN: %w", err))
		}
		l.segs = nil
		if err := syncDir(l.opts.Dir); err != nil {
			return l.failLocked(err)
		}
	}
	f, seg, err := createSegment(l.opts.Dir, n)
	if err != nil {
		return l.failLocked(err)
	}
	l.segs = []*segment{seg}
	l.active = &segFile{f: f}
	l.nextLSN = n
	l.synced = n - 1
	l.markSyncedLocked()
	l.gen++
	l.notifyLocked()
	return nil
}

// Reset durably empties the log and makes the next Append get LSN next (a
// node replacing its whole state with a snapshot at next-1): every record
// is removed (TruncateBack to FirstLSN()-1), then SetNextLSN(next). A crash
// in between leaves an empty log whose next LSN is the old FirstLSN();
// repeat the call.
func (l *Log) Reset(next uint64) error {
	if first := l.FirstLSN(); first != 0 {
		if err := l.TruncateBack(first - 1); err != nil {
			return err
		}
	}
	return l.SetNextLSN(next)
}
