// Package fileutil holds the small file-I/O helpers that the storage packages
// (wal, engine, replication, index/hnsw, index/ivf) share: the one CRC32C
// table, directory fsync, checksumming reader/writer wrappers and bounded
// little-endian array readers for persisted files.
//
// Nothing here defines an on-disk format; the helpers only factor out code
// that each package used to copy, so behaviour and formats are unchanged.
package fileutil

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
)

// CastagnoliTable is the CRC32C (Castagnoli) table used by every checksum
// Tandem writes (WAL frames, segment headers, replication wire messages,
// checkpoints, snapshots and index files). hash/crc32 uses hardware
// instructions for this polynomial where the CPU has them.
var CastagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// NewCRC32C returns a new running CRC32C hash.
func NewCRC32C() hash.Hash32 { return crc32.New(CastagnoliTable) }

// SyncDir fsyncs directory dir so that entries created, renamed or removed
// in it are durable. A Close error is reported when Sync succeeded.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// HashWriter writes through to W, feeding every byte written to Hash and
// counting them in N. Not safe for concurrent use.
type HashWriter struct {
	W    io.Writer
	Hash hash.Hash32
	N    int64 // bytes written to W so far
}

// Write implements io.Writer; only the bytes W accepted are hashed.
func (c *HashWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.Hash.Write(p[:n])
	c.N += int64(n)
	return n, err
}

// HashReader reads from R, feeding every byte read to Hash.
type HashReader struct {
	R    io.Reader
	Hash hash.Hash32
}

// Read implements io.Reader.
func (c *HashReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.Hash.Write(p[:n])
	return n, err
}

// readStep bounds how much ReadFull allocates ahead of the data that has
// actually arrived (1 MiB), so that a corrupt length read from a file cannot
// cause a huge allocation.
const readStep = 1 << 20

// ReadFull reads exactly n bytes from r, growing its buffer only as data
// arrives. Input that ends early (after zero or more bytes) gives
// io.ErrUnexpectedEOF; any other read error is returned as is.
func ReadFull(r io.Reader, n int) ([]byte, error) {
	out := make([]byte, 0, min(n, readStep))
	for len(out) < n {
		want := min(n-len(out), readStep)
		if cap(out)-len(out) < want {
			nc := min(n, max(2*cap(out), len(out)+want))
			grown := make([]byte, len(out), nc)
			copy(grown, out)
			out = grown
		}
		k, err := io.ReadFull(r, out[len(out):len(out)+want])
		out = out[:len(out)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return out, nil
}

// ReadU32s reads n little-endian uint32 words from r, allocating only as
// data arrives. Errors are as for ReadFull.
func ReadU32s(r io.Reader, n int) ([]uint32, error) {
	const step = readStep / 4
	out := make([]uint32, 0, min(n, step))
	for len(out) < n {
		b, err := ReadFull(r, 4*min(n-len(out), step))
		if err != nil {
			return nil, err
		}
		if cap(out)-len(out) < len(b)/4 {
			grown := make([]uint32, len(out), min(n, max(2*cap(out), len(out)+len(b)/4)))
			copy(grown, out)
			out = grown
		}
		for i := 0; i < len(b); i += 4 {
			out = append(out, binary.LittleEndian.Uint32(b[i:]))
		}
	}
	return out, nil
}

// ReadU64s reads n little-endian uint64 words from r, allocating only as
// data arrives. Errors are as for ReadFull.
func ReadU64s(r io.Reader, n int) ([]uint64, error) {
	const step = readStep / 8
	out := make([]uint64, 0, min(n, step))
	for len(out) < n {
		b, err := ReadFull(r, 8*min(n-len(out), step))
		if err != nil {
			return nil, err
		}
		if cap(out)-len(out) < len(b)/8 {
			grown := make([]uint64, len(out), min(n, max(2*cap(out), len(out)+len(b)/8)))
			copy(grown, out)
			out = grown
		}
		for i := 0; i < len(b); i += 8 {
			out = append(out, binary.LittleEndian.Uint64(b[i:]))
		}
	}
	return out, nil
}

// WriteFileAtomic replaces path with data through a temporary file
// (path.tmp) that is written, fsynced and renamed over path, so a crash
// leaves the old or the new content, never a mix. The rename itself is
// durable only once the directory is synced (SyncDir).
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
