package wal

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// Standalone record files: a single file in the segment file format (the
// 24-byte header naming the first LSN, then frames), written outside any
// Log. HA uses them to keep the records it cuts from a diverged log
// (DataDir/diverged/, see internal/engine); ReadFile reads them back with
// every frame verified.

// FileWriter writes records to a standalone record file.
type FileWriter struct {
	f    *os.File
	w    *bufio.Writer
	path string
	next uint64 // LSN the next record must have
	hdr  [frameHeaderSize]byte
	err  error
}

// CreateFile creates (O_EXCL) a standalone record file at path whose first
// record will have LSN first (>= 1).
func CreateFile(path string, first uint64) (*FileWriter, error) {
	if first == 0 || first > maxNextLSN {
		return nil, fmt.Errorf("wal: CreateFile: first lsn %d out of range", first)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: create file: %w", err)
	}
	fw := &FileWriter{f: f, w: bufio.NewWriterSize(f, 256<<10), path: path, next: first}
	if _, err := fw.w.Write(encodeSegHeader(first)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("wal: write %s: %w", path, err)
	}
	return fw, nil
}

// Append writes r, whose LSN must be the previous record's + 1 (the first
// LSN for the first record; else an error wrapping ErrLSNGap).
func (fw *FileWriter) Append(r Record) error {
	if fw.err != nil {
		return fw.err
	}
	if r.LSN != fw.next {
		return fmt.Errorf("wal: %s: append lsn %d, want %d: %w", fw.path, r.LSN, fw.next, ErrLSNGap)
	}
	if int64(len(r.Payload)) > MaxMaxRecordBytes {
		return fmt.Errorf("wal: %s: record of %d bytes: %w", fw.path, len(r.Payload), ErrTooLarge)
	}
	encodeFrameHeader(fw.hdr[:], r.Epoch, r.LSN, r.Type, r.Payload)
	if _, err := fw.w.Write(fw.hdr[:]); err != nil {
		fw.err = fmt.Errorf("wal: write %s: %w", fw.path, err)
		return fw.err
	}
	if _, err := fw.w.Write(r.Payload); err != nil {
		fw.err = fmt.Errorf("wal: write %s: %w", fw.path, err)
		return fw.err
	}
	fw.next++
	return nil
}

// Close flushes, fsyncs and closes the file. The caller fsyncs the
// directory if the file's entry must be durable.
func (fw *FileWriter) Close() error {
	err := fw.err
	if err == nil {
		if err = fw.w.Flush(); err == nil {
			err = fw.f.Sync()
		}
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: close %s: %w", fw.path, err)
	}
	return nil
}

// Abort closes and removes the file.
func (fw *FileWriter) Abort() {
	fw.f.Close()
	os.Remove(fw.path)
}

// ReadFile calls fn for every record of the standalone record file (or WAL
// segment file) at path, in order. Every frame is verified: a bad header, a
// torn or corrupt frame or an LSN gap returns an error wrapping ErrCorrupt
// after the records before it were delivered. fn's error is returned
// unchanged.
func ReadFile(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("wal: read file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: read file: %w", err)
	}
	corrupt := func(off int64, why string, args ...any) error {
		return fmt.Errorf("wal: %s:%d: %s: %w", path, off, fmt.Sprintf(why, args...), ErrCorrupt)
	}
	var hb [segHeaderSize]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		return corrupt(0, "header: %v", err)
	}
	lsn, err := decodeSegHeader(hb[:])
	if err != nil {
		return corrupt(0, "header: %v", err)
	}
	r := newFrameReader(f, segHeaderSize, st.Size())
	for ; r.remaining() > 0; lsn++ {
		off := r.off
		if r.remaining() < frameHeaderSize {
			return corrupt(off, "torn frame header")
		}
		h, err := r.readHeader()
		if err != nil {
			return fmt.Errorf("wal: read %s at %d: %w", path, off, err)
		}
		if h.lsn != lsn {
			return corrupt(off, "lsn %d, want %d", h.lsn, lsn)
		}
		if int64(h.length) > r.remaining() || int64(h.length) > MaxMaxRecordBytes {
			return corrupt(off, "bad length %d", h.length)
		}
		payload := make([]byte, h.length)
		if err := r.readFull(payload); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return corrupt(off, "torn frame")
			}
			return fmt.Errorf("wal: read %s at %d: %w", path, off, err)
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

// RetainBound returns the smallest upTo for which TruncateFront(upTo)
// leaves at most maxBytes of segment files on disk (the active file is
// always kept, so the result may leave more): 0 if the log already fits.
// Retention for standbys truncates at least this far.
func (l *Log) RetainBound(maxBytes int64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total int64
	for i := len(l.segs) - 1; i >= 0; i-- {
		total += l.segs[i].size
		if total > maxBytes && i < len(l.segs)-1 {
			return l.segs[i].lastLSN()
		}
	}
	return 0
}
