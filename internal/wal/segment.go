package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// Segment file header layout (see the package comment).
const (
	segHeaderSize = 24
	segVersion    = 1
	segSuffix     = ".wal"
	segNameDigits = 20
	corruptDir    = "corrupt"
	lockName      = "LOCK"
)

var segMagic = [4]byte{'T', 'W', 'A', 'L'}

// segment describes one segment file. All fields are guarded by Log.mu.
type segment struct {
	firstLSN uint64 // LSN of the first record (from the name and header)
	count    uint64 // records in the file
	size     int64  // bytes in the file, header included
	path     string
}

// lastLSN returns the LSN of the segment's last record, or firstLSN-1 if it
// has none.
func (s *segment) lastLSN() uint64 { return s.firstLSN + s.count - 1 }

// segName returns the file name of the segment whose first LSN is lsn.
func segName(lsn uint64) string {
	return fmt.Sprintf("%0*d%s", segNameDigits, lsn, segSuffix)
}

// parseSegName returns the first LSN encoded in a segment file name, or
// false if name is not a segment file name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != segNameDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// encodeSegHeader returns the header of a segment whose first LSN is lsn.
func encodeSegHeader(lsn uint64) []byte {
	b := make([]byte, segHeaderSize)
	copy(b[0:4], segMagic[:])
	binary.LittleEndian.PutUint32(b[4:8], segVersion)
	binary.LittleEndian.PutUint64(b[8:16], lsn)
	binary.LittleEndian.PutUint32(b[20:24], crc32.Checksum(b[0:20], fileutil.CastagnoliTable))
	return b
}

// decodeSegHeader validates b (segHeaderSize bytes) and returns its first LSN.
func decodeSegHeader(b []byte) (uint64, error) {
	if [4]byte(b[0:4]) != segMagic {
		return 0, errors.New("bad magic")
	}
	if got, want := binary.LittleEndian.Uint32(b[20:24]), crc32.Checksum(b[0:20], fileutil.CastagnoliTable); got != want {
		return 0, fmt.Errorf("header crc %08x, want %08x", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != segVersion {
		return 0, fmt.Errorf("unsupported version %d", v)
	}
	return binary.LittleEndian.Uint64(b[8:16]), nil
}

// createSegment creates the segment file for first LSN lsn in dir, writes its
// header and makes file and directory entry durable. It returns the file open
// for appending.
func createSegment(dir string, lsn uint64) (*os.File, *segment, error) {
	path := filepath.Join(dir, segName(lsn))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: create segment: %w", err)
	}
	if _, err := f.Write(encodeSegHeader(lsn)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: write segment header %s: %w", path, err)
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: sync segment %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, &segment{firstLSN: lsn, size: segHeaderSize, path: path}, nil
}

// openSegmentForAppend opens an existing segment file for appending.
func openSegmentForAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open segment: %w", err)
	}
	return f, nil
}

// syncDir fsyncs directory dir so that entries created, renamed or removed
// in it are durable.
func syncDir(dir string) error {
	if err := fileutil.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// truncateFile cuts the file at path to size bytes and fsyncs it.
func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: open for truncate: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: truncate %s to %d: %w", path, size, err)
	}
	return nil
}

// moveToCorrupt renames the file at path into dir/corrupt/, adding a numeric
// suffix if the name is taken, and returns the new path. The caller fsyncs
// the directories.
func moveToCorrupt(dir, path string) (string, error) {
	cdir := filepath.Join(dir, corruptDir)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return "", fmt.Errorf("wal: create %s: %w", cdir, err)
	}
	base := filepath.Base(path)
	dst := filepath.Join(cdir, base)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("wal: stat %s: %w", dst, err)
		}
		dst = filepath.Join(cdir, fmt.Sprintf("%s.%d", base, i))
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("wal: move to corrupt/: %w", err)
	}
	return dst, nil
}
