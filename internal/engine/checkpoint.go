package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/merr"
)

// Checkpoint files. All integers little-endian; every file ends with the
// CRC32C (Castagnoli) of all its preceding bytes, and is written under a
// ".tmp" name, fsynced, renamed, and the directory fsynced.
//
// MANIFEST (DataDir/MANIFEST):
//
//	8  magic "TNDMANIF"
//	4  version (2; version 1, without index files, is still read)
//	8  checkpoint LSN C: the state below is the state after applying 1..C
//	8  next local segment ID
//	   bytes catalog (uv length + catalog encoding, see catalog.go)
//	   uv n × segment: i64 segment ID, i64 collection ID, i64 partition ID,
//	                   u32 rows, str file name (in DataDir/segments/),
//	                   (version 2) uv m × index file: i64 field ID,
//	                   i64 index ID, str file name (see index.go)
//	   str tombstone file name ("" = none)
//	4  CRC32C
//
// Segments are listed per collection (ID order), per partition (creation
// order), in segment order; that is the order rows are scanned in.
//
// Segment file (DataDir/segments/%020d.seg, by segment ID), immutable:
//
//	8  magic "TNDSEG01"
//	4  version (1)
//	8  segment ID, 8 collection ID, 8 partition ID, 4 rows
//	   rows × u64 insert LSN
//	   uv ncols, ncols × column (colData encoding; FloatVector data starts
//	   at a file offset that is a multiple of 4; the other vector types
//	   are written compact, unaligned)
//	4  CRC32C
//
// Tombstone file (DataDir/segments/tomb-%020d.dat, by checkpoint LSN): the
// delete LSNs (<= C) of rows of the manifest's segments:
//
//	8  magic "TNDTOMB1"
//	4  version (1)
//	   uv n × (i64 segment ID, u32 row, u64 delete LSN)
//	4  CRC32C
const (
	manifestName  = "MANIFEST"
	manifestMagic = "TNDMANIF"
	segMagic      = "TNDSEG01"
	tombMagic     = "TNDTOMB1"
	fileVersion   = 1
	// manifestVersion is the manifest's version (2: index files listed).
	manifestVersion = 2
)

func segFileName(id int64) string    { return fmt.Sprintf("%020d.seg", id) }
func tombFileName(lsn uint64) string { return fmt.Sprintf("tomb-%020d.dat", lsn) }

// Flush seals growing segments and checkpoints; returns when durable.
func (e *Engine) Flush(ctx context.Context, db string, colls []string) error {
	if err := e.check(); err != nil {
		return err
	}
	e.mu.RLock()
	if _, err := e.cat.db(db); err != nil {
		e.mu.RUnlock()
		return err
	}
	for _, name := range colls {
		if _, err := e.lookupLocked(db, name); err != nil {
			e.mu.RUnlock()
			return err
		}
	}
	e.mu.RUnlock()
	return e.checkpoint(ctx)
}

// Checkpoint writes a checkpoint now (see the file formats above).
func (e *Engine) Checkpoint(ctx context.Context) error {
	if err := e.check(); err != nil {
		return err
	}
	return e.checkpoint(ctx)
}

// ckptSeg is a segment listed in a checkpoint.
type ckptSeg struct {
	seg            *segment
	collID, partID int64
	// indexes is the ID of the ANN index per column at the checkpoint (0 =
	// none): only those index files are kept and listed.
	indexes []int64
}

// checkpoint: phase 1 under writeMu seals growing segments and copies the
// catalog at C = applied LSN; phase 2 writes files outside the locks.
func (e *Engine) checkpoint(ctx context.Context) error {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()

	e.writeMu.Lock()
	if err := e.check(); err != nil {
		e.writeMu.Unlock()
		return err
	}
	e.mu.Lock()
	c := e.applied.Load()
	relayout := e.layoutChanged.Swap(false)
	if c == e.ckptLSN.Load() && c > 0 && !relayout {
		e.mu.Unlock()
		e.writeMu.Unlock()
		return nil
	}
	walBytes := e.walBytes.Load()
	cw := &enc{}
	err := e.cat.encode(cw)
	var segs []ckptSeg
	for _, col := range e.cat.sortedColls() {
		ixs := currentANNIndexes(col)
		for _, p := range col.partitions {
			for _, s := range p.segs {
				if s.rows == 0 {
					continue
				}
				s.seal()
				segs = append(segs, ckptSeg{seg: s, collID: col.id, partID: p.id, indexes: ixs})
			}
		}
	}
	nextSeg := e.nextSegID
	e.mu.Unlock()
	e.writeMu.Unlock()
	e.ix.kick() // segments may have been sealed
	if err != nil {
		return e.fail(err)
	}
	e.walBytes.Add(-walBytes)

	if c > 0 {
		if err := e.wal.WaitDurable(ctx, c); err != nil {
			return fmt.Errorf("engine: checkpoint: %w", err)
		}
	}
	if err := e.writeCheckpoint(c, nextSeg, cw.b, segs); err != nil {
		if relayout {
			e.layoutChanged.Store(true)
		}
		return fmt.Errorf("engine: checkpoint at lsn %d: %w", c, merr.Wrap(merr.ErrIoFailed, err.Error()))
	}
	e.ckptLSN.Store(c)
	if err := e.wal.TruncateFront(e.truncateUpTo(c)); err != nil {
		return fmt.Errorf("engine: checkpoint: %w", err)
	}
	return nil
}

// writeCheckpoint writes segment files, tombstones and the manifest, then
// removes files the new manifest no longer references. Caller holds ckptMu.
func (e *Engine) writeCheckpoint(c uint64, nextSeg int64, catalogBytes []byte, segs []ckptSeg) error {
	keep := map[string]bool{}
	var tombs enc
	ntomb := 0
	segIdx := make([][]manifestIndex, len(segs))
	for i, cs := range segs {
		s := cs.seg
		name := segFileName(s.id)
		keep[name] = true
		segIdx[i] = indexFilesOf(s, cs.indexes)
		for _, mi := range segIdx[i] {
			keep[mi.file] = true
		}
		if !s.persisted {
			if err := writeSegmentFile(filepath.Join(e.segDir, name), s); err != nil {
				return err
			}
		}
		for row := 0; row < s.rows; row++ {
			if d := s.deleteLSN(row); d != 0 && d <= c {
				tombs.i64(s.id)
				tombs.u32(uint32(row))
				tombs.u64(d)
				ntomb++
			}
		}
	}
	tomb := ""
	if ntomb > 0 {
		tomb = tombFileName(c)
		if tomb == e.tombFile {
			// Rewritten at the same LSN (after a compaction): the current
			// manifest still names the old file, which must survive a
			// crash before the new manifest is in place.
			tomb = fmt.Sprintf("tomb-%020d-%d.dat", c, e.tombSeq.Add(1))
		}
		keep[tomb] = true
		w := &enc{}
		w.b = append(w.b, tombMagic...)
		w.u32(fileVersion)
		w.uv(uint64(ntomb))
		w.b = append(w.b, tombs.b...)
		if err := writeFileAtomic(filepath.Join(e.segDir, tomb), w.b); err != nil {
			return err
		}
	}
	if err := fileutil.SyncDir(e.segDir); err != nil {
		return err
	}

	w := &enc{}
	w.b = append(w.b, manifestMagic...)
	w.u32(manifestVersion)
	w.u64(c)
	w.i64(nextSeg)
	w.bytes(catalogBytes)
	w.uv(uint64(len(segs)))
	for i, cs := range segs {
		w.i64(cs.seg.id)
		w.i64(cs.collID)
		w.i64(cs.partID)
		w.u32(uint32(cs.seg.rows))
		w.str(segFileName(cs.seg.id))
		w.uv(uint64(len(segIdx[i])))
		for _, mi := range segIdx[i] {
			w.i64(mi.fieldID)
			w.i64(mi.indexID)
			w.str(mi.file)
		}
	}
	w.str(tomb)
	if err := writeFileAtomic(filepath.Join(e.cfg.DataDir, manifestName), w.b); err != nil {
		return err
	}
	if err := fileutil.SyncDir(e.cfg.DataDir); err != nil {
		return err
	}
	for _, cs := range segs {
		cs.seg.persisted = true
	}
	e.tombFile = tomb

	// Remove unreferenced files (dropped collections, old tombstones,
	// leftovers of interrupted checkpoints).
	ents, err := os.ReadDir(e.segDir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if !keep[ent.Name()] {
			_ = os.Remove(filepath.Join(e.segDir, ent.Name()))
		}
	}
	return nil
}

// writeFileAtomic writes b plus its CRC32C to path via a temp file.
func writeFileAtomic(path string, b []byte) error {
	crc := crc32.Checksum(b, fileutil.CastagnoliTable)
	return fileutil.WriteFileAtomic(path, binary.LittleEndian.AppendUint32(b, crc))
}

// crcWriter writes through a buffer, tracking the offset and CRC32C.
type crcWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	off int64
}

func (cw *crcWriter) Write(p []byte) (int, error) {
	cw.crc.Write(p)
	cw.off += int64(len(p))
	return cw.w.Write(p)
}

// writeSegmentFile writes sealed segment s to path (see the format above).
// s is immutable apart from delete LSNs, which are not written.
func writeSegmentFile(path string, s *segment) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	cw := &crcWriter{w: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(fileutil.CastagnoliTable)}
	w := &enc{}
	w.b = append(w.b, segMagic...)
	w.u32(fileVersion)
	w.i64(s.id)
	w.i64(s.collID)
	w.i64(s.partID)
	w.u32(uint32(s.rows))
	for _, l := range s.insertLSN[:s.rows] {
		w.u64(l)
	}
	w.uv(uint64(len(s.cols)))
	if _, err := cw.Write(w.b); err != nil {
		return err
	}
	for i := range s.cols {
		sc := &s.cols[i]
		w.b = w.b[:0]
		fid := s.fieldIDs[i]
		if sc.dim == 0 {
			if err := encodeCol(w, colData{fieldID: fid, typ: s.fieldTypes[i], data: sc.data, valid: sc.valid}, s.rows); err != nil {
				return err
			}
			if _, err := cw.Write(w.b); err != nil {
				return err
			}
			continue
		}
		if sc.typ != schemapb.DataType_FloatVector && sc.typ != 0 {
			// Compact vector types: u32 dim, rows of compact bytes.
			w.i64(fid)
			w.u8(uint8(sc.typ))
			w.u32(uint32(sc.dim))
			for row := 0; row < s.rows; row++ {
				w.b = sc.appendRowBytes(w.b, s.chunkRows, row)
				if len(w.b) >= 1<<20 {
					if _, err := cw.Write(w.b); err != nil {
						return err
					}
					w.b = w.b[:0]
				}
			}
			if _, err := cw.Write(w.b); err != nil {
				return err
			}
			continue
		}
		w.i64(fid)
		w.u8(uint8(schemapb.DataType_FloatVector))
		w.u32(uint32(sc.dim))
		for (cw.off+int64(len(w.b)))%4 != 0 {
			w.u8(0)
		}
		if _, err := cw.Write(w.b); err != nil {
			return err
		}
		left := s.rows
		for _, ch := range sc.chunks {
			take := min(left, len(ch)/sc.dim)
			w.b = w.b[:0]
			w.f32s(ch[:take*sc.dim])
			if _, err := cw.Write(w.b); err != nil {
				return err
			}
			left -= take
		}
	}
	if err := cw.w.Flush(); err != nil {
		return err
	}
	var crc [4]byte
	binary.LittleEndian.PutUint32(crc[:], cw.crc.Sum32())
	if _, err := f.Write(crc[:]); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		f = nil
		os.Remove(tmp)
		return err
	}
	f = nil
	return os.Rename(tmp, path)
}

// readChecked reads a checkpoint file, verifies magic and CRC, and returns
// its body (after magic and version, before the CRC).
func readChecked(path, magic string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < len(magic)+8 || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("engine: %s: bad magic: %w", path, errCorrupt)
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, fileutil.CastagnoliTable), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("engine: %s: checksum mismatch: %w", path, errCorrupt)
	}
	maxVersion := uint32(fileVersion)
	if magic == manifestMagic {
		maxVersion = manifestVersion
	}
	if v := binary.LittleEndian.Uint32(b[len(magic):]); v < fileVersion || v > maxVersion {
		return nil, fmt.Errorf("engine: %s: version %d not supported", path, v)
	}
	return body, nil
}

// manifestSeg is a segment listed in a manifest.
type manifestSeg struct {
	id, collID, partID int64
	rows               int
	file               string
	indexes            []manifestIndex
}

// manifest is a decoded MANIFEST.
type manifest struct {
	lsn       uint64
	nextSegID int64
	catalog   []byte // catalog encoding
	segs      []manifestSeg
	tomb      string
}

// files returns the names (relative to the segments directory) of every
// file the manifest references, in order: segment files with their index
// files, then the tombstone file.
func (m *manifest) files() []string {
	var out []string
	for _, s := range m.segs {
		out = append(out, s.file)
		for _, mi := range s.indexes {
			out = append(out, filepath.Base(mi.file))
		}
	}
	if m.tomb != "" {
		out = append(out, m.tomb)
	}
	return out
}

// safeFileName reports whether name can be used as a file name inside a
// data directory (no path, not hidden).
func safeFileName(name string) bool {
	return name != "" && name == filepath.Base(name) && !strings.HasPrefix(name, ".")
}

// readManifest reads and decodes the manifest at path (os.ErrNotExist if
// there is none).
func readManifest(path string) (*manifest, error) {
	body, err := readChecked(path, manifestMagic)
	if err != nil {
		return nil, err
	}
	version := binary.LittleEndian.Uint32(body[len(manifestMagic):])
	r := &dec{b: body, off: len(manifestMagic) + 4}
	m := &manifest{lsn: r.u64(), nextSegID: r.i64(), catalog: r.bytes()}
	nseg := r.count(8)
	for i := 0; i < nseg && r.err == nil; i++ {
		s := manifestSeg{id: r.i64(), collID: r.i64(), partID: r.i64(), rows: int(r.u32()), file: r.str()}
		if version >= 2 {
			ni := r.count(17)
			for j := 0; j < ni && r.err == nil; j++ {
				s.indexes = append(s.indexes, manifestIndex{fieldID: r.i64(), indexID: r.i64(), file: r.str()})
			}
		}
		if r.err == nil && !safeFileName(s.file) {
			return nil, fmt.Errorf("engine: %s: bad segment file name %q", path, s.file)
		}
		for _, mi := range s.indexes {
			if !safeFileName(filepath.Base(mi.file)) {
				return nil, fmt.Errorf("engine: %s: bad index file name %q", path, mi.file)
			}
		}
		m.segs = append(m.segs, s)
	}
	m.tomb = r.str()
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("engine: %s: %w", path, err)
	}
	if m.tomb != "" {
		m.tomb = filepath.Base(m.tomb)
		if !safeFileName(m.tomb) {
			return nil, fmt.Errorf("engine: %s: bad tombstone file name %q", path, m.tomb)
		}
	}
	return m, nil
}

// ckptState is the in-memory state rebuilt from a checkpoint's files.
type ckptState struct {
	lsn        uint64
	cat        *catalog
	nextSegID  int64
	tombFile   string
	indexLoads int64 // index files attached
}

// loadCheckpoint restores the state of the manifest (if any) into e and
// returns its LSN. Runs single-threaded in Open.
func (e *Engine) loadCheckpoint() (uint64, error) {
	st, err := e.readCheckpoint(e.cfg.DataDir, e.segDir)
	if err != nil {
		return 0, err
	}
	e.cat, e.nextSegID, e.tombFile = st.cat, st.nextSegID, st.tombFile
	if e.ix != nil {
		e.ix.loads.Add(st.indexLoads)
	}
	e.ckptLSN.Store(st.lsn)
	return st.lsn, nil
}

// readCheckpoint builds the state of the checkpoint in dataDir (MANIFEST)
// and segDir (its files), verifying every file; an empty state at LSN 0
// if there is no manifest. It changes nothing in e.
func (e *Engine) readCheckpoint(dataDir, segDir string) (*ckptState, error) {
	mpath := filepath.Join(dataDir, manifestName)
	m, err := readManifest(mpath)
	if errors.Is(err, os.ErrNotExist) {
		return &ckptState{cat: newCatalog()}, nil
	}
	if err != nil {
		return nil, err
	}
	c := m.lsn
	st := &ckptState{lsn: c, nextSegID: m.nextSegID}
	cat, err := decodeCatalog(&dec{b: m.catalog})
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %w", mpath, err)
	}
	st.cat = cat
	segByID := map[int64]*segment{}
	for _, ms := range m.segs {
		col, ok := cat.colls[ms.collID]
		if !ok {
			return nil, fmt.Errorf("engine: %s: segment %d of unknown collection %d", mpath, ms.id, ms.collID)
		}
		p := col.partitionByID(ms.partID)
		if p == nil {
			return nil, fmt.Errorf("engine: %s: segment %d of unknown partition %d", mpath, ms.id, ms.partID)
		}
		s, err := e.loadSegmentFile(filepath.Join(segDir, ms.file), col)
		if err != nil {
			return nil, err
		}
		if s.id != ms.id || s.rows != ms.rows || s.partID != ms.partID {
			return nil, fmt.Errorf("engine: segment file %s does not match the manifest: %w", ms.file, errCorrupt)
		}
		s.persisted = true
		p.segs = append(p.segs, s)
		segByID[ms.id] = s
		st.indexLoads += e.loadSegmentIndexes(segDir, col, s, ms.indexes)
	}
	if tomb := m.tomb; tomb != "" {
		tpath := filepath.Join(segDir, tomb)
		tb, err := readChecked(tpath, tombMagic)
		if err != nil {
			return nil, fmt.Errorf("engine: tombstones: %w", err)
		}
		tr := &dec{b: tb, off: len(tombMagic) + 4}
		n := tr.count(20)
		for i := 0; i < n && tr.err == nil; i++ {
			id, row, lsn := tr.i64(), int(tr.u32()), tr.u64()
			s := segByID[id]
			if tr.err == nil && (s == nil || row >= s.rows || lsn == 0 || lsn > c) {
				return nil, fmt.Errorf("engine: %s: bad tombstone (segment %d row %d): %w", tpath, id, row, errCorrupt)
			}
			if tr.err == nil && s.deleteLSN(row) == 0 {
				s.markDeleted(row, lsn)
			}
		}
		if err := tr.done(); err != nil {
			return nil, fmt.Errorf("engine: %s: %w", tpath, err)
		}
		st.tombFile = tomb
	}
	// Rebuild the row indexes from the live rows.
	for _, col := range cat.sortedColls() {
		for _, p := range col.partitions {
			for _, s := range p.segs {
				pks := s.cols[col.pk].data
				for row := 0; row < s.rows; row++ {
					if s.deleteLSN(row) != 0 {
						continue
					}
					col.supersede(pks, row, rowLoc{seg: s, row: int32(row)}, c)
					col.liveRows++
				}
			}
		}
	}
	return st, nil
}

// loadSegmentFile reads and verifies a segment file of collection col. Its
// vector chunks are views of the file's bytes (no second copy).
func (e *Engine) loadSegmentFile(path string, col *collection) (*segment, error) {
	body, err := readChecked(path, segMagic)
	if err != nil {
		return nil, fmt.Errorf("engine: segment file %s: %w", path, err)
	}
	bad := func(why string) error {
		return fmt.Errorf("engine: segment file %s: %s: %w", path, why, errCorrupt)
	}
	r := &dec{b: body, off: len(segMagic) + 4}
	id, collID, partID, rows := r.i64(), r.i64(), r.i64(), int(r.u32())
	if r.err != nil || collID != col.id || rows <= 0 || rows > (len(body)-r.off)/8 {
		return nil, bad("header")
	}
	s := newSegment(id, col, partID, e.cfg.SegmentMaxRows)
	s.insertLSN = make([]uint64, rows)
	for i := range s.insertLSN {
		s.insertLSN[i] = r.u64()
	}
	nc := r.count(9)
	if nc > len(col.fields) {
		// Fewer columns than fields: fields added after the segment was
		// written (AddCollectionField); they read null or the default.
		return nil, bad("column count")
	}
	seen := make([]bool, len(col.fields))
	for i := 0; i < nc && r.err == nil; i++ {
		cd := decodeCol(r, rows)
		if r.err != nil {
			break
		}
		fi, ok := col.fieldByID(cd.fieldID)
		if !ok || seen[fi] || cd.typ != col.fields[fi].typ {
			return nil, bad(fmt.Sprintf("column of field %d", cd.fieldID))
		}
		seen[fi] = true
		sc := &s.cols[fi]
		if col.fields[fi].isVector {
			if cd.dim != sc.dim {
				return nil, bad("vector dim")
			}
			if sc.isBin() {
				b := cd.data.([]byte)
				step := s.chunkRows * sc.dim / 8
				for lo := 0; lo < len(b); lo += step {
					hi := min(len(b), lo+step)
					sc.bin = append(sc.bin, b[lo:hi:hi])
				}
				continue
			}
			if b, ok := cd.data.([]byte); ok {
				v := make([]float32, rows*sc.dim)
				bytesToFloats(sc.typ, b, v)
				cd.data = v
			}
			flat := cd.data.([]float32)
			step := s.chunkRows * sc.dim
			for lo := 0; lo < len(flat); lo += step {
				hi := min(len(flat), lo+step)
				sc.chunks = append(sc.chunks, flat[lo:hi:hi])
			}
			sc.norms = make([]float32, rows)
			for j := range rows {
				sc.norms[j] = distance.Norm(flat[j*sc.dim : (j+1)*sc.dim])
			}
		} else {
			if dataLen(cd.data) != rows {
				return nil, bad("column length")
			}
			sc.data = cd.data
			switch {
			case cd.valid != nil && !col.fields[fi].nullable:
				return nil, bad("validity of a field that is not nullable")
			case cd.valid != nil:
				sc.valid = cd.valid
			case col.fields[fi].nullable:
				sc.valid = appendValid(nil, nil, 0, rows)
			}
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("engine: segment file %s: %w", path, err)
	}
	for fi := range col.fields {
		if seen[fi] {
			continue
		}
		f := &col.fields[fi]
		if f.isVector || (!f.nullable && f.def == nil) {
			return nil, bad(fmt.Sprintf("no column of field %d", f.id))
		}
		cd := absentColumn(f, rows)
		s.cols[fi].data = cd.data
		if f.nullable {
			s.cols[fi].valid = appendValid(nil, cd.valid, 0, rows)
		}
	}
	s.rows = rows
	s.sealed = true
	s.del = make([]*delChunk, (rows+delChunkRows-1)/delChunkRows)
	for i := range s.del {
		s.del[i] = new(delChunk)
	}
	return s, nil
}

var _ io.Writer = (*crcWriter)(nil)
