package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// Iterate calls fn for every record with LSN >= from, in LSN order, up to
// the LastLSN at the time of the call. fn owns r.Payload (a fresh slice per
// record). It returns fn's first error unchanged, an error wrapping
// ErrTruncated if records >= from were already removed (from < FirstLSN; 0
// counts as 1), an error wrapping ErrCorrupt if a frame on disk no longer
// verifies, or an I/O error. Iterate reads the files with its own handles and
// holds no lock while calling fn, so appends proceed meanwhile; running it
// concurrently with TruncateBack or a TruncateFront that removes the records
// being read makes it fail.
func (l *Log) Iterate(from uint64, fn func(r Record) error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return err
	}
	last := l.nextLSN - 1
	firstAvail := l.firstAvailLocked()
	segs := make([]segment, len(l.segs))
	for i, s := range l.segs {
		segs[i] = *s
	}
	l.mu.Unlock()

	from = max(from, 1)
	if from < firstAvail {
		return fmt.Errorf("wal: iterate from %d: first lsn on disk is %d: %w", from, firstAvail, ErrTruncated)
	}
	if from > last {
		return nil
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].firstLSN > from }) - 1
	for ; i < len(segs); i++ {
		if err := l.iterateSegment(&segs[i], from, fn); err != nil {
			return err
		}
	}
	return nil
}

// iterateSegment delivers the records of s (as snapshotted) with LSN >= from.
func (l *Log) iterateSegment(s *segment, from uint64, fn func(r Record) error) error {
	if s.count == 0 || s.lastLSN() < from {
		return nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wal: iterate: segment %s removed meanwhile: %w", s.path, ErrTruncated)
	}
	if err != nil {
		return fmt.Errorf("wal: iterate: %w", err)
	}
	defer f.Close()
	name := f.Name()
	corrupt := func(off int64, why string, args ...any) error {
		return fmt.Errorf("wal: iterate: %s:%d: %s: %w", name, off, fmt.Sprintf(why, args...), ErrCorrupt)
	}

	r := newFrameReader(f, segHeaderSize, s.size)
	for lsn := s.firstLSN; lsn <= s.lastLSN(); lsn++ {
		off := r.off
		if r.remaining() < frameHeaderSize {
			return corrupt(off, "file shorter than expected")
		}
		h, err := r.readHeader()
		if err != nil {
			return fmt.Errorf("wal: iterate: read %s at %d: %w", name, off, err)
		}
		if h.lsn != lsn {
			return corrupt(off, "lsn %d, want %d", h.lsn, lsn)
		}
		if int64(h.length) > r.remaining() || int64(h.length) > l.opts.MaxRecordBytes {
			return corrupt(off, "bad length %d", h.length)
		}
		if lsn < from {
			r.skip(int64(h.length))
			continue
		}
		payload := make([]byte, h.length)
		if err := r.readFull(payload); err != nil {
			return fmt.Errorf("wal: iterate: read %s at %d: %w", name, off, err)
		}
		if crc := crc32.Update(headerCRC(r.hdr[:]), fileutil.CastagnoliTable, payload); crc != h.crc {
			return corrupt(off, "crc %08x, want %08x", crc, h.crc)
		}
		if err := fn(Record{Epoch: h.epoch, LSN: h.lsn, Type: h.typ, Payload: payload}); err != nil {
			return err
		}
	}
	return nil
}
