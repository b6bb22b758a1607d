package engine

import (
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
	"sync"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// Snapshots: a standby whose position the active's WAL no longer covers
// (or that is empty, or whose own checkpoint is past a divergence point)
// receives the active's last checkpoint as files and continues streaming
// after its LSN.
//
// Active side (OpenSnapshot): reuse the current checkpoint, or take one
// if there is none or much WAL was written since; under ckptMu, hard-link
// (copy if linking fails) the MANIFEST and every file it references into
// DataDir/snapshots/<n>-<lsn>/, so a later checkpoint deleting them does
// not affect the transfer, and pin the WAL from the checkpoint's LSN + 1
// (WALPin) so the records that follow the snapshot stay available.
//
// Standby side (StageSnapshot, InstallSnapshot): files are written into
// DataDir/snapshot.stage/ (MANIFEST, segments/...) with each file's
// trailing CRC32C verified as it completes and the file fsynced. Install
// then loads and verifies the whole checkpoint from the stage (no lock
// held), and under ckptMu+writeMu+mu:
//
//  1. writes DataDir/SNAPSHOT_INSTALL (magic "TNDINSTL", version 1, u64
//     LSN, CRC32C; atomically) — from here on the install is completed
//     by Open after a crash;
//  2. renames segments/ to segments.old/, snapshot.stage/segments/ to
//     segments/, snapshot.stage/MANIFEST to MANIFEST, fsyncs DataDir;
//  3. empties the WAL so it continues at LSN + 1 (wal.Log.Reset);
//  4. removes the marker, segments.old/ and the stage;
//  5. swaps the in-memory state (catalog, segments, positions) for the
//     loaded one.
//
// Readers never see a half-built state: they take mu.RLock, which step 5
// holds exclusively; a read already in flight finishes on the old state.

// Snapshot file names.
const (
	snapshotsDir   = "snapshots"
	stageDir       = "snapshot.stage"
	installMarker  = "SNAPSHOT_INSTALL"
	installMagic   = "TNDINSTL"
	oldSegmentsDir = "segments.old"
)

// SnapshotFile is one file of a snapshot.
type SnapshotFile struct {
	// Name is "MANIFEST" or "segments/<file>".
	Name string
	Size int64
}

// Snapshot is a checkpoint's files held for sending to a standby.
type Snapshot struct {
	// LSN is the checkpoint's LSN: the state after applying 1..LSN.
	LSN uint64
	// Epochs is the epoch history as of LSN.
	Epochs []EpochStart
	// Files are the files to send, MANIFEST first.
	Files []SnapshotFile

	dir  string
	pin  *WALPin
	once sync.Once
}

// TotalBytes returns the size of all files.
func (s *Snapshot) TotalBytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// Open opens file i for reading.
func (s *Snapshot) Open(i int) (*os.File, error) {
	return os.Open(filepath.Join(s.dir, filepath.FromSlash(s.Files[i].Name)))
}

// Close releases the files and the WAL pin. Idempotent.
func (s *Snapshot) Close() error {
	var err error
	s.once.Do(func() {
		s.pin.Release()
		err = os.RemoveAll(s.dir)
	})
	return err
}

// OpenSnapshot returns the files of a checkpoint, held (hard links) until
// Close, and a WAL pin on the records after it until Close. It reuses the
// current checkpoint unless there is none or at least a quarter of
// Config.CheckpointWALBytes was written since, in which case it takes one.
func (e *Engine) OpenSnapshot(ctx context.Context) (*Snapshot, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(filepath.Join(e.cfg.DataDir, manifestName))
	if statErr != nil || e.ckptLSN.Load() == 0 || e.walBytes.Load() >= e.cfg.CheckpointWALBytes/4 {
		if err := e.checkpoint(ctx); err != nil {
			return nil, err
		}
	}
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	if err := e.check(); err != nil {
		return nil, err
	}
	mpath := filepath.Join(e.cfg.DataDir, manifestName)
	m, err := readManifest(mpath)
	if err != nil {
		return nil, fmt.Errorf("engine: snapshot: %w", err)
	}
	cat, err := decodeCatalog(&dec{b: m.catalog})
	if err != nil {
		return nil, fmt.Errorf("engine: snapshot: %s: %w", mpath, err)
	}
	dir := filepath.Join(e.cfg.DataDir, snapshotsDir, fmt.Sprintf("%d-%d", e.snapSeq.Add(1), m.lsn))
	if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o755); err != nil {
		return nil, fmt.Errorf("engine: snapshot: %w", err)
	}
	s := &Snapshot{LSN: m.lsn, dir: dir}
	for _, ep := range cat.epochs {
		s.Epochs = append(s.Epochs, EpochStart{Epoch: ep.Epoch, LSN: ep.LSN})
	}
	names := []string{manifestName}
	for _, f := range m.files() {
		names = append(names, "segments/"+f)
	}
	for _, name := range names {
		src := filepath.Join(e.cfg.DataDir, filepath.FromSlash(name))
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := linkOrCopy(src, dst); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("engine: snapshot: %w", err)
		}
		fi, err := os.Stat(dst)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("engine: snapshot: %w", err)
		}
		s.Files = append(s.Files, SnapshotFile{Name: name, Size: fi.Size()})
	}
	// Under ckptMu: no truncation can run between the checkpoint and the pin.
	s.pin = e.PinWAL(m.lsn + 1)
	return s, nil
}

// linkOrCopy hard-links src to dst, copying if linking is not possible.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SnapshotStage receives a snapshot's files on a standby, one file at a
// time, in DataDir/snapshot.stage/. Not safe for concurrent use.
type SnapshotStage struct {
	e   *Engine
	dir string

	f          *os.File
	name       string
	size, done int64
	crc        hash.Hash32
	tail       [4]byte
	manifest   bool
	closed     bool
}

// StageSnapshot starts receiving a snapshot (removing any earlier,
// incomplete one).
func (e *Engine) StageSnapshot() (*SnapshotStage, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.cfg.DataDir, stageDir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("engine: snapshot stage: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o755); err != nil {
		return nil, fmt.Errorf("engine: snapshot stage: %w", err)
	}
	return &SnapshotStage{e: e, dir: dir}, nil
}

// errSnapshot wraps every error about snapshot contents.
var errSnapshot = errors.New("engine: bad snapshot")

// BeginFile starts file name ("MANIFEST" or "segments/<file>") of size
// bytes. The previous file must be ended.
func (st *SnapshotStage) BeginFile(name string, size int64) error {
	if st.closed {
		return fmt.Errorf("%w: stage closed", errSnapshot)
	}
	if st.f != nil {
		return fmt.Errorf("%w: file %s begun before %s ended", errSnapshot, name, st.name)
	}
	var rel string
	switch {
	case name == manifestName:
		rel = manifestName
	case strings.HasPrefix(name, "segments/") && safeFileName(strings.TrimPrefix(name, "segments/")):
		rel = filepath.Join("segments", strings.TrimPrefix(name, "segments/"))
	default:
		return fmt.Errorf("%w: file name %q", errSnapshot, name)
	}
	if size < 12 {
		return fmt.Errorf("%w: file %s of %d bytes", errSnapshot, name, size)
	}
	f, err := os.OpenFile(filepath.Join(st.dir, rel), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	st.f, st.name, st.size, st.done = f, name, size, 0
	st.crc = crc32.New(fileutil.CastagnoliTable)
	if name == manifestName {
		st.manifest = true
	}
	return nil
}

// Write appends p to the current file.
func (st *SnapshotStage) Write(p []byte) error {
	if st.f == nil {
		return fmt.Errorf("%w: data outside a file", errSnapshot)
	}
	if st.done+int64(len(p)) > st.size {
		return fmt.Errorf("%w: file %s: more than its %d bytes", errSnapshot, st.name, st.size)
	}
	if _, err := st.f.Write(p); err != nil {
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	// Every checkpoint file ends with the CRC32C of its other bytes.
	body := st.size - 4
	for len(p) > 0 {
		if st.done < body {
			n := min(int64(len(p)), body-st.done)
			st.crc.Write(p[:n])
			p, st.done = p[n:], st.done+n
			continue
		}
		n := copy(st.tail[st.done-body:], p)
		p, st.done = p[n:], st.done+int64(n)
	}
	return nil
}

// EndFile checks the current file's size and CRC, fsyncs and closes it.
func (st *SnapshotStage) EndFile() error {
	if st.f == nil {
		return fmt.Errorf("%w: no file to end", errSnapshot)
	}
	f := st.f
	st.f = nil
	if st.done != st.size {
		f.Close()
		return fmt.Errorf("%w: file %s: %d of %d bytes", errSnapshot, st.name, st.done, st.size)
	}
	if got, want := st.crc.Sum32(), binary.LittleEndian.Uint32(st.tail[:]); got != want {
		f.Close()
		return fmt.Errorf("%w: file %s: crc %08x, want %08x", errSnapshot, st.name, got, want)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	return nil
}

// Abort drops the stage. Idempotent; a no-op after a successful install.
func (st *SnapshotStage) Abort() {
	if st.closed {
		return
	}
	st.closed = true
	if st.f != nil {
		st.f.Close()
		st.f = nil
	}
	_ = os.RemoveAll(st.dir)
}

// InstallSnapshot replaces this engine's whole state (files, WAL and
// memory) with the snapshot in st, a checkpoint at lsn: afterwards
// LastLSN() == lsn and the WAL continues at lsn + 1. See the steps above.
// A failure before the swap leaves the engine as it was (the stage is
// dropped); a failure during it fails the engine (Open completes the
// install).
func (e *Engine) InstallSnapshot(st *SnapshotStage, lsn uint64) error {
	if err := e.installSnapshot(st, lsn); err != nil {
		st.Abort()
		return err
	}
	return nil
}

func (e *Engine) installSnapshot(st *SnapshotStage, lsn uint64) error {
	if st.closed || st.f != nil || !st.manifest {
		return fmt.Errorf("%w: incomplete (a file not ended, or no MANIFEST)", errSnapshot)
	}
	if err := fileutil.SyncDir(filepath.Join(st.dir, "segments")); err != nil {
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	if err := fileutil.SyncDir(st.dir); err != nil {
		return fmt.Errorf("engine: snapshot stage: %w", err)
	}
	state, err := e.readCheckpoint(st.dir, filepath.Join(st.dir, "segments"))
	if err != nil {
		return fmt.Errorf("%w: %w", errSnapshot, err)
	}
	if state.lsn != lsn {
		return fmt.Errorf("%w: checkpoint at lsn %d, announced %d", errSnapshot, state.lsn, lsn)
	}

	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.check(); err != nil {
		return err
	}
	dd := e.cfg.DataDir
	w := &enc{}
	w.b = append(w.b, installMagic...)
	w.u32(fileVersion)
	w.u64(lsn)
	if err := writeFileAtomic(filepath.Join(dd, installMarker), w.b); err != nil {
		return fmt.Errorf("engine: snapshot install: %w", err)
	}
	st.closed = true // the stage now belongs to the install (and to Open after a crash)
	if err := fileutil.SyncDir(dd); err != nil {
		return e.fail(fmt.Errorf("snapshot install: %w", err))
	}
	if err := e.swapInstallDirs(); err != nil {
		return e.fail(fmt.Errorf("snapshot install: %w", err))
	}
	if err := e.wal.Reset(lsn + 1); err != nil {
		return e.fail(fmt.Errorf("snapshot install: wal: %w", err))
	}
	e.logReplaced(lsn)
	if err := e.endInstall(); err != nil {
		return e.fail(fmt.Errorf("snapshot install: %w", err))
	}
	e.mu.Lock()
	e.resetStateLocked(state)
	e.mu.Unlock()
	e.tail.advance()
	e.ix.kick()
	e.logger().Info("engine: snapshot installed", "lsn", lsn, "collections", len(state.cat.colls))
	return nil
}

// resetStateLocked makes st the engine's state. Caller holds ckptMu,
// writeMu and mu.
func (e *Engine) resetStateLocked(st *ckptState) {
	e.cat, e.nextSegID, e.tombFile = st.cat, st.nextSegID, st.tombFile
	e.ckptLSN.Store(st.lsn)
	e.applied.Store(st.lsn)
	e.walBytes.Store(0)
	e.ix.loads.Add(st.indexLoads)
	e.ix.mu.Lock()
	clear(e.ix.failed)
	e.ix.mu.Unlock()
}

// swapInstallDirs moves the staged files into place (step 2). It is
// idempotent: a step already done is skipped.
func (e *Engine) swapInstallDirs() error {
	dd := e.cfg.DataDir
	stage := filepath.Join(dd, stageDir)
	if exists(filepath.Join(stage, "segments")) {
		if exists(e.segDir) {
			if err := os.RemoveAll(filepath.Join(dd, oldSegmentsDir)); err != nil {
				return err
			}
			if err := os.Rename(e.segDir, filepath.Join(dd, oldSegmentsDir)); err != nil {
				return err
			}
		}
		if err := os.Rename(filepath.Join(stage, "segments"), e.segDir); err != nil {
			return err
		}
	}
	if exists(filepath.Join(stage, manifestName)) {
		if err := os.Rename(filepath.Join(stage, manifestName), filepath.Join(dd, manifestName)); err != nil {
			return err
		}
	}
	return fileutil.SyncDir(dd)
}

// endInstall removes the marker, then what the install left (step 4).
func (e *Engine) endInstall() error {
	dd := e.cfg.DataDir
	if err := os.Remove(filepath.Join(dd, installMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := fileutil.SyncDir(dd); err != nil {
		return err
	}
	_ = os.RemoveAll(filepath.Join(dd, oldSegmentsDir))
	_ = os.RemoveAll(filepath.Join(dd, stageDir))
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// recoverInstall runs in Open before anything is loaded: it removes
// snapshots being sent (DataDir/snapshots/); if an install was
// interrupted (the marker exists) it completes its file moves and returns
// its LSN (the WAL is reset by finishInstallWAL once open); else it
// removes a partial stage and leftovers.
func (e *Engine) recoverInstall() (uint64, bool, error) {
	dd := e.cfg.DataDir
	if err := os.RemoveAll(filepath.Join(dd, snapshotsDir)); err != nil {
		return 0, false, fmt.Errorf("engine: %w", err)
	}
	_ = os.Remove(filepath.Join(dd, installMarker+".tmp"))
	body, err := readChecked(filepath.Join(dd, installMarker), installMagic)
	if errors.Is(err, os.ErrNotExist) {
		_ = os.RemoveAll(filepath.Join(dd, stageDir))
		_ = os.RemoveAll(filepath.Join(dd, oldSegmentsDir))
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	r := &dec{b: body, off: len(installMagic) + 4}
	lsn := r.u64()
	if err := r.done(); err != nil {
		return 0, false, fmt.Errorf("engine: %s: %w", installMarker, err)
	}
	e.logger().Warn("engine: completing a snapshot install interrupted by a crash", "lsn", lsn)
	if err := e.swapInstallDirs(); err != nil {
		return 0, false, fmt.Errorf("engine: complete snapshot install: %w", err)
	}
	return lsn, true, nil
}

// finishInstallWAL completes an interrupted install once the WAL is open:
// the WAL must continue at lsn + 1 (step 3), then step 4.
func (e *Engine) finishInstallWAL(lsn, ckpt uint64) error {
	if ckpt != lsn {
		// The files were never moved (the stage was lost before): the old
		// state is intact; drop the marker.
		e.logger().Warn("engine: interrupted snapshot install had not moved its files; keeping the old state",
			"install_lsn", lsn, "checkpoint_lsn", ckpt)
		return e.endInstall()
	}
	if e.wal.FirstLSN() != 0 || e.wal.LastLSN() != lsn {
		if err := e.wal.Reset(lsn + 1); err != nil {
			return fmt.Errorf("engine: complete snapshot install: %w", err)
		}
	}
	if err := e.endInstall(); err != nil {
		return fmt.Errorf("engine: complete snapshot install: %w", err)
	}
	return nil
}
