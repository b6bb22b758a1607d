package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// seqReadBytes is the read-ahead of a Reader: frames are read in chunks of
// up to this many bytes; a payload that does not fit is read straight into
// its own slice.
const seqReadBytes = 256 << 10

// seqHeaderRead is how much a Reader reads to get at a frame header that
// follows a large frame (it does not read ahead a whole chunk there: the
// next frame is likely large too).
const seqHeaderRead = 4 << 10

// Reader reads a log sequentially from a position on, keeping its place
// between calls: the open segment file and the offset of the next frame.
// A reader that follows the log's tail therefore reads every frame once,
// instead of rescanning its segment from the start as Iterate does. Every
// frame is verified (LSN, length, CRC) as with Iterate. A Reader is not
// safe for concurrent use; Close it when done.
type Reader struct {
	l    *Log
	next uint64 // LSN of the next record Read returns
	gen  uint64 // l.gen when positioned (f != nil)

	f      *os.File // open segment file, nil if not positioned
	path   string   // f's path
	segLSN uint64   // first LSN of f's segment
	pos    uint64   // LSN of the frame at off (pos <= next)
	off    int64    // offset in f of the frame with LSN pos
	end    int64    // bytes of f known written (the segment's size when last snapshotted)

	buf    []byte // bytes of f from bufOff on (read-ahead)
	bufOff int64
	big    bool // the last frame passed was larger than the read-ahead
	hdr    [frameHeaderSize]byte
}

// NewReader returns a reader whose first record is from (0 counts as 1).
// It opens no file until the first Read.
func (l *Log) NewReader(from uint64) *Reader {
	return &Reader{l: l, next: max(from, 1)}
}

// Next returns the LSN of the next record Read returns.
func (r *Reader) Next() uint64 { return r.next }

// Skip moves the reader forward to lsn (when the caller got the records
// before it elsewhere); a position at or before the current one is
// ignored. The frames skipped are walked (headers only) at the next Read.
func (r *Reader) Skip(lsn uint64) {
	r.next = max(r.next, lsn)
}

// Close releases the open file. The reader may be used again (it reopens
// its file).
func (r *Reader) Close() error {
	r.drop()
	return nil
}

func (r *Reader) drop() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.buf = r.buf[:0]
}

// Read appends to dst the records from the reader's position on, in LSN
// order, up to LSN last (and up to LastLSN at the time of the call), and
// stops once the payloads appended reach maxBytes (so it appends at least
// one record if any is available). Each payload is a fresh slice. It
// returns an error wrapping ErrTruncated if the records at the position
// were removed (TruncateFront), or the log was rewritten (TruncateBack,
// SetNextLSN, Reset) since the reader was positioned; ErrCorrupt if a
// frame does not verify; or an I/O error. Records returned before an
// error stay valid and the position is after them.
func (r *Reader) Read(dst []Record, last uint64, maxBytes int64) ([]Record, error) {
	l := r.l
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return dst, ErrClosed
	}
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return dst, err
	}
	if r.f != nil && r.gen != l.gen {
		l.mu.Unlock()
		r.drop()
		return dst, fmt.Errorf("wal: read at %d: the log was rewritten (truncated back or reset) meanwhile: %w", r.next, ErrTruncated)
	}
	gen := l.gen
	last = min(last, l.nextLSN-1)
	firstAvail := l.firstAvailLocked()
	// The segments from the one holding next on (as they are now: only
	// the last can grow, and only past its snapshotted size).
	var segs []segment
	if r.next <= last && r.next >= firstAvail {
		i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].firstLSN > r.next }) - 1
		for ; i < len(l.segs) && l.segs[i].firstLSN <= last; i++ {
			segs = append(segs, *l.segs[i])
		}
	}
	l.mu.Unlock()

	if r.next < firstAvail && r.next <= last {
		r.drop()
		return dst, fmt.Errorf("wal: read from %d: first lsn on disk is %d: %w", r.next, firstAvail, ErrTruncated)
	}
	var got int64
	for i := range segs {
		s := &segs[i]
		if r.next > last || (got >= maxBytes && got > 0) {
			break
		}
		if s.lastLSN() < r.next {
			continue
		}
		var err error
		dst, err = r.readSegment(dst, s, gen, last, maxBytes, &got)
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// readSegment reads records of s (as snapshotted) from r.next on.
func (r *Reader) readSegment(dst []Record, s *segment, gen, last uint64, maxBytes int64, got *int64) ([]Record, error) {
	if r.f == nil || r.segLSN != s.firstLSN {
		r.drop()
		f, err := os.Open(s.path)
		if errors.Is(err, os.ErrNotExist) {
			return dst, fmt.Errorf("wal: read: segment %s removed meanwhile: %w", s.path, ErrTruncated)
		}
		if err != nil {
			return dst, fmt.Errorf("wal: read: %w", err)
		}
		r.f, r.path, r.segLSN, r.gen = f, s.path, s.firstLSN, gen
		r.pos, r.off = s.firstLSN, segHeaderSize
		r.big = false
	}
	r.end = s.size
	end := min(last, s.lastLSN())
	for r.pos <= end {
		if r.pos >= r.next && *got >= maxBytes && *got > 0 {
			break
		}
		off := r.off
		if s.size-off < frameHeaderSize {
			return dst, r.corrupt(off, "file shorter than expected")
		}
		hint := int64(seqReadBytes)
		if r.big {
			hint = seqHeaderRead
		}
		hb, err := r.at(off, frameHeaderSize, hint)
		if err != nil {
			return dst, err
		}
		copy(r.hdr[:], hb)
		h := decodeFrameHeader(r.hdr[:])
		if h.lsn != r.pos {
			return dst, r.corrupt(off, "lsn %d, want %d", h.lsn, r.pos)
		}
		n := int64(h.length)
		if n > s.size-off-frameHeaderSize || n > r.l.opts.MaxRecordBytes {
			return dst, r.corrupt(off, "bad length %d", h.length)
		}
		r.big = n > seqReadBytes/4
		if r.pos < r.next {
			// Skipped (the caller had it): header only.
			r.pos++
			r.off = off + frameHeaderSize + n
			continue
		}
		payload, err := r.payload(off+frameHeaderSize, n)
		if err != nil {
			return dst, err
		}
		if crc := crc32.Update(headerCRC(r.hdr[:]), fileutil.CastagnoliTable, payload); crc != h.crc {
			return dst, r.corrupt(off, "crc %08x, want %08x", crc, h.crc)
		}
		dst = append(dst, Record{Epoch: h.epoch, LSN: h.lsn, Type: h.typ, Payload: payload})
		*got += n
		r.pos++
		r.next = r.pos
		r.off = off + frameHeaderSize + n
	}
	return dst, nil
}

// at returns the n bytes of the file at off (valid until the next call),
// reading ahead up to want bytes (within r.end: bytes past it may still be
// being written) when they are not buffered.
func (r *Reader) at(off int64, n int, want int64) ([]byte, error) {
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(len(r.buf)) {
		return r.buf[off-r.bufOff : off-r.bufOff+int64(n)], nil
	}
	k := int(max(int64(n), min(want, r.end-off)))
	if cap(r.buf) < k {
		r.buf = make([]byte, max(k, seqHeaderRead))
	}
	r.buf = r.buf[:k]
	m, err := r.f.ReadAt(r.buf, off)
	if m < n {
		r.buf, r.bufOff = r.buf[:0], 0
		return nil, fmt.Errorf("wal: read %s at %d: %w", r.path, off, eofUnexpected(err))
	}
	r.buf, r.bufOff = r.buf[:m], off
	return r.buf[:n], nil
}

// payload returns a fresh slice with the n bytes at off.
func (r *Reader) payload(off, n int64) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil
	}
	if off >= r.bufOff && off+n <= r.bufOff+int64(len(r.buf)) {
		return append([]byte(nil), r.buf[off-r.bufOff:off-r.bufOff+n]...), nil
	}
	if n <= seqReadBytes/4 {
		b, err := r.at(off, int(n), seqReadBytes)
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), b...), nil
	}
	// Large: what is buffered, then the rest read straight into place.
	var p []byte
	if off >= r.bufOff && off < r.bufOff+int64(len(r.buf)) {
		p = append(make([]byte, 0, n), r.buf[off-r.bufOff:]...)
	} else {
		p = make([]byte, 0, n)
	}
	have := int64(len(p))
	p = p[:n]
	if m, err := r.f.ReadAt(p[have:], off+have); int64(m) < n-have {
		return nil, fmt.Errorf("wal: read %s at %d: %w", r.path, off+have, eofUnexpected(err))
	}
	return p, nil
}

func (r *Reader) corrupt(off int64, why string, args ...any) error {
	return fmt.Errorf("wal: read: %s:%d: %s: %w", r.path, off, fmt.Sprintf(why, args...), ErrCorrupt)
}
