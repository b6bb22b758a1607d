package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

// RecoveryInfo says what Open found and cut.
type RecoveryInfo struct {
	// FirstLSN and LastLSN bound the records recovered; both are 0 when
	// none were (Log.LastLSN may still be > 0 after SetNextLSN/TruncateBack).
	FirstLSN, LastLSN uint64
	// Records is the number of records recovered.
	Records int
	// TruncatedBytes counts the bytes cut: the tail of the file where the cut
	// happened plus the whole size of every file moved away.
	TruncatedBytes int64
	// RemovedFiles lists, by their new paths under Dir/corrupt/, the whole
	// segment files dropped by the cut (never silently deleted).
	RemovedFiles []string
	// Reason is "" for a clean log, "torn tail" for an incomplete last frame,
	// or "corrupt record at <file>:<offset>: <why>".
	Reason string
}

// ReasonTornTail is RecoveryInfo.Reason after cutting an incomplete last
// frame.
const ReasonTornTail = "torn tail"

// segCheck is the outcome of checking one segment file at recovery.
type segCheck struct {
	size     int64  // file size in bytes
	headerOK bool   // header valid and consistent with the name and the log
	count    uint64 // valid records
	validEnd int64  // offset just past the last valid frame
	problem  string // "" if the whole file is valid
	torn     bool   // the problem is a torn tail, not corruption
	badOff   int64  // offset of the problem
}

// checkSegment validates the segment file at path whose name says its first
// LSN is nameLSN. wantFirst is the LSN the file must start at (0 = any,
// for the first file). isLast says whether later files exist. The returned
// error is an I/O error, never a format problem.
func checkSegment(path string, nameLSN, wantFirst uint64, isLast bool, maxLen int64) (segCheck, error) {
	var c segCheck
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return c, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	c.size = st.Size()

	// problemAt records the first problem; in the last file a problem
	// followed only by zeros is a torn tail.
	problemAt := func(off int64, torn bool, why string) error {
		c.problem, c.badOff, c.torn = why, off, torn
		if !torn && isLast {
			z, err := allZero(f, off, c.size)
			if err != nil {
				return err
			}
			c.torn = z
		}
		return nil
	}

	// Header.
	if c.size < segHeaderSize {
		return c, problemAt(0, isLast, fmt.Sprintf("segment header: incomplete (%d bytes)", c.size))
	}
	var hb [segHeaderSize]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil {
		return c, fmt.Errorf("wal: read header %s: %w", path, eofUnexpected(err))
	}
	first, herr := decodeSegHeader(hb[:])
	switch {
	case herr != nil:
		return c, problemAt(0, false, "segment header: "+herr.Error())
	case first != nameLSN:
		return c, problemAt(0, false, fmt.Sprintf("segment header: first lsn %d does not match the file name", first))
	case wantFirst != 0 && first != wantFirst:
		return c, problemAt(0, false, fmt.Sprintf("segment header: first lsn %d, want %d (previous file's last + 1)", first, wantFirst))
	}
	c.headerOK = true
	c.validEnd = segHeaderSize

	// Frames.
	r := newFrameReader(f, segHeaderSize, c.size)
	for want := first; r.remaining() > 0; want++ {
		off := r.off
		if r.remaining() < frameHeaderSize {
			return c, problemAt(off, isLast, fmt.Sprintf("incomplete frame header (%d bytes before end of file)", r.remaining()))
		}
		h, err := r.readHeader()
		if err != nil {
			return c, fmt.Errorf("wal: read %s at %d: %w", path, off, err)
		}
		if int64(h.length) > maxLen {
			return c, problemAt(off, false, fmt.Sprintf("length %d > MaxRecordBytes %d", h.length, maxLen))
		}
		if int64(h.length) > r.remaining() {
			return c, problemAt(off, isLast, fmt.Sprintf("incomplete frame: length %d, %d bytes before end of file", h.length, r.remaining()))
		}
		crc, err := r.crcOver(headerCRC(r.hdr[:]), int64(h.length))
		if err != nil {
			return c, fmt.Errorf("wal: read %s at %d: %w", path, off, err)
		}
		if crc != h.crc {
			return c, problemAt(off, false, fmt.Sprintf("crc %08x, want %08x", crc, h.crc))
		}
		if h.lsn != want {
			return c, problemAt(off, false, fmt.Sprintf("lsn %d, want %d", h.lsn, want))
		}
		c.count++
		c.validEnd = r.off
	}
	return c, nil
}

// recover scans Dir, cuts at the first bad frame and sets up l's segments,
// next LSN and active file. Called by Open before l is shared.
func (l *Log) recover() error {
	dir := l.opts.Dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: read dir: %w", err)
	}
	var names []string // sorted by name = by first LSN (fixed width)
	for _, e := range ents {
		if _, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}

	var (
		info RecoveryInfo
		segs []*segment
		next uint64 = 1
	)
	for i, name := range names {
		path := filepath.Join(dir, name)
		nameLSN, _ := parseSegName(name)
		var wantFirst uint64
		if i > 0 {
			wantFirst = next
		}
		c, err := checkSegment(path, nameLSN, wantFirst, i == len(names)-1, l.opts.MaxRecordBytes)
		if err != nil {
			return err
		}
		if c.headerOK {
			segs = append(segs, &segment{firstLSN: nameLSN, count: c.count, size: c.validEnd, path: path})
			next = nameLSN + c.count
			info.Records += int(c.count)
		}
		if c.problem == "" {
			continue
		}

		// Cut here.
		if c.torn {
			info.Reason = ReasonTornTail
		} else {
			info.Reason = fmt.Sprintf("corrupt record at %s:%d: %s", name, c.badOff, c.problem)
		}
		later := names[i+1:]
		if c.headerOK {
			if c.validEnd < c.size {
				if err := truncateFile(path, c.validEnd); err != nil {
					return err
				}
				info.TruncatedBytes += c.size - c.validEnd
			}
		} else {
			later = names[i:]
		}
		for _, n := range later {
			p := filepath.Join(dir, n)
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("wal: stat %s: %w", p, err)
			}
			dst, err := moveToCorrupt(dir, p)
			if err != nil {
				return err
			}
			info.TruncatedBytes += st.Size()
			info.RemovedFiles = append(info.RemovedFiles, dst)
		}
		if len(later) > 0 {
			if err := syncDir(filepath.Join(dir, corruptDir)); err != nil {
				return err
			}
			if err := syncDir(dir); err != nil {
				return err
			}
		}
		l.logger.Warn("wal: recovery cut the log",
			"dir", dir, "reason", info.Reason, "truncated_bytes", info.TruncatedBytes,
			"moved_files", info.RemovedFiles)
		break
	}

	if info.Records > 0 {
		info.FirstLSN = segs[0].firstLSN
		info.LastLSN = next - 1
	}
	l.info = info
	l.segs = segs
	l.nextLSN = next
	l.synced = next - 1
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		f, err := openSegmentForAppend(last.path)
		if err != nil {
			return err
		}
		// A previous process may have died with written but unsynced
		// records: make them durable before reporting them as such.
		start := l.now()
		if err := fdatasync(f); err != nil {
			f.Close()
			return fmt.Errorf("wal: sync %s: %w", last.path, err)
		}
		l.reportFsync(start)
		l.active = &segFile{f: f}
	}
	l.markSyncedLocked()
	l.logger.Info("wal: opened", "dir", dir, "segments", len(segs),
		"first_lsn", info.FirstLSN, "last_lsn", next-1, "records", info.Records)
	return nil
}
