package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tandem-db/tandem/internal/wal"
)

// WAL file layout (internal/wal's package comment): a 24-byte segment
// header, then frames of a 25-byte header (length u32, crc u32, epoch
// u64, lsn u64, type u8) and the payload.
const (
	walSegHeader   = 24
	walFrameHeader = 25
)

// PowerCut is what CutUnsynced did to one WAL.
type PowerCut struct {
	// Mark is the synced LSN the log recorded (every record <= Mark was
	// fsynced); 0 with NoMark.
	Mark   uint64
	NoMark bool
	// Records and Bytes were removed (records past Mark, and any torn
	// frame after them).
	Records int
	Bytes   int64
	// Files were truncated.
	Files []string
	// Skipped names a segment left alone because it starts past Mark+1
	// (a gap the mark cannot explain: nothing is cut there).
	Skipped []string
}

func (c PowerCut) String() string {
	if c.NoMark {
		return "no synced mark: nothing cut"
	}
	s := fmt.Sprintf("cut %d unsynced records (%d bytes) after lsn %d", c.Records, c.Bytes, c.Mark)
	if len(c.Skipped) > 0 {
		s += fmt.Sprintf(", left %v", c.Skipped)
	}
	return s
}

// CutUnsynced simulates a power cut on the WAL in dir, whose process is
// dead: it reads the synced LSN the log recorded (wal.SyncedMarkName,
// written in failpoint builds with wal/synced-mark armed) and truncates
// every segment so that no record past it remains — what a file system
// that loses the unsynced tail of its files would show (like LazyFS's
// "lose unsynced data"). Segment files themselves stay (their creation
// was made durable). Without a mark it changes nothing.
func CutUnsynced(dir string) (PowerCut, error) {
	var cut PowerCut
	b, err := os.ReadFile(filepath.Join(dir, wal.SyncedMarkName))
	if errors.Is(err, os.ErrNotExist) || (err == nil && strings.TrimSpace(string(b)) == "") {
		cut.NoMark = true
		return cut, nil
	}
	if err != nil {
		return cut, fmt.Errorf("chaos: power cut: %w", err)
	}
	mark, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return cut, fmt.Errorf("chaos: power cut: bad mark %q: %w", b, err)
	}
	cut.Mark = mark
	ents, err := os.ReadDir(dir)
	if err != nil {
		return cut, fmt.Errorf("chaos: power cut: %w", err)
	}
	type seg struct {
		first uint64
		path  string
	}
	var segs []seg
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".wal") || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, seg{first, filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	for _, s := range segs {
		if s.first > mark+1 {
			cut.Skipped = append(cut.Skipped, filepath.Base(s.path))
			continue
		}
		off, removed, size, err := cutOffset(s.path, mark)
		if err != nil {
			return cut, err
		}
		if off >= size {
			continue
		}
		if err := os.Truncate(s.path, off); err != nil {
			return cut, fmt.Errorf("chaos: power cut: %w", err)
		}
		cut.Records += removed
		cut.Bytes += size - off
		cut.Files = append(cut.Files, filepath.Base(s.path))
	}
	return cut, nil
}

// cutOffset walks the frames of segment path and returns the offset of
// the first frame whose LSN is past mark (or of the first incomplete
// frame, or the file size), how many complete frames lie from there on,
// and the file's size.
func cutOffset(path string, mark uint64) (off int64, removed int, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("chaos: power cut: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("chaos: power cut: %w", err)
	}
	size = st.Size()
	if size < walSegHeader {
		return size, 0, size, nil
	}
	off = walSegHeader
	cutAt := int64(-1)
	var h [walFrameHeader]byte
	for off+walFrameHeader <= size {
		if _, err := f.ReadAt(h[:], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, 0, fmt.Errorf("chaos: power cut: read %s: %w", path, err)
		}
		length := int64(binary.LittleEndian.Uint32(h[0:4]))
		lsn := binary.LittleEndian.Uint64(h[16:24])
		end := off + walFrameHeader + length
		if end > size || lsn == 0 {
			break // torn or zeroed tail: recovery's to cut
		}
		if lsn > mark && cutAt < 0 {
			cutAt = off
		}
		if cutAt >= 0 {
			removed++
		}
		off = end
	}
	if cutAt < 0 {
		cutAt = off // only the torn tail (if any) goes
	}
	return cutAt, removed, size, nil
}
