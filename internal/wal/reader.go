package wal

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// readBufferBytes is the read-ahead buffer of a frameReader. Payloads larger
// than what is buffered are read straight into the caller's slice.
const readBufferBytes = 256 << 10

// frameReader reads frames sequentially from the byte range [off, end) of a
// segment file with positioned reads, so it never moves a shared file offset.
type frameReader struct {
	f   *os.File
	off int64 // file offset of the next byte the caller will consume
	end int64 // exclusive bound of the readable range
	br  *bufio.Reader
	hdr [frameHeaderSize]byte
}

func newFrameReader(f *os.File, off, end int64) *frameReader {
	r := &frameReader{f: f, off: off, end: end}
	r.br = bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), readBufferBytes)
	return r
}

// remaining returns the bytes left in the range.
func (r *frameReader) remaining() int64 { return r.end - r.off }

// readHeader reads and decodes the next frame header. The caller has checked
// remaining() >= frameHeaderSize; short reads come back as
// io.ErrUnexpectedEOF.
func (r *frameReader) readHeader() (frameHeader, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return frameHeader{}, eofUnexpected(err)
	}
	r.off += frameHeaderSize
	return decodeFrameHeader(r.hdr[:]), nil
}

// skip moves past n bytes without reading them when they are not buffered.
func (r *frameReader) skip(n int64) {
	r.off += n
	if n <= int64(r.br.Buffered()) {
		_, _ = r.br.Discard(int(n)) // cannot fail: the bytes are buffered
		return
	}
	r.br.Reset(io.NewSectionReader(r.f, r.off, r.end-r.off))
}

// readFull fills p with the next len(p) bytes.
func (r *frameReader) readFull(p []byte) error {
	n, err := io.ReadFull(r.br, p)
	r.off += int64(n)
	return eofUnexpected(err)
}

// crcOver continues crc over the next n bytes, consuming them, without
// holding more than the read buffer in memory.
func (r *frameReader) crcOver(crc uint32, n int64) (uint32, error) {
	for n > 0 {
		k := int(min(n, readBufferBytes))
		p, err := r.br.Peek(k)
		crc = crc32.Update(crc, fileutil.CastagnoliTable, p)
		_, _ = r.br.Discard(len(p))
		r.off += int64(len(p))
		n -= int64(len(p))
		if err != nil {
			return crc, eofUnexpected(err)
		}
	}
	return crc, nil
}

// allZero reports whether the bytes [off, end) of f are all zero.
func allZero(f *os.File, off, end int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < end {
		n := int(min(end-off, int64(len(buf))))
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("wal: read %s at %d: %w", f.Name(), off, eofUnexpected(err))
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
	}
	return true, nil
}

// eofUnexpected turns io.EOF into io.ErrUnexpectedEOF: readers here are only
// called when the bytes are expected to exist.
func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
