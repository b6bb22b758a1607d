package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/wal"
)

// Cutting a diverged log (docs/architecture.md §3, "Resurrection"): when the active
// says that this node's log diverges from its own after LSN A, CutLog
// saves every record past A to DataDir/diverged/, then cuts the WAL after
// A and rebuilds the state (the last checkpoint, which must be at or
// before A, plus WAL replay up to A). If the checkpoint is past A (its
// sealed segments contain records past A) the state cannot be rebuilt
// locally: CutLog saves the records, changes nothing else and reports
// NeedSnapshot; the node then installs a snapshot from the active, which
// replaces the whole state.
//
// # The diverged/ files
//
// Each cut writes, in DataDir/diverged/, two files named after the time
// of the cut (UTC) and the cut point:
//
//	<20060102T150405.000000000Z>-after-<A>.wal   the records
//	<20060102T150405.000000000Z>-after-<A>.json  a readable summary
//
// The .wal file is one file in the WAL segment file format (see package
// wal: a 24-byte header whose first LSN is the first saved record's LSN,
// then one frame per record: length, CRC32C, epoch, LSN, type, payload),
// written with wal.FileWriter, fsynced, readable with wal.ReadFile. The
// payloads are engine records (record.go), so the file can be inspected
// or replayed by tools. It holds every cut record still in the WAL, in
// LSN order; records the WAL no longer had (already folded into a
// checkpoint, so older than its first LSN) cannot be saved as records:
// the summary says how many and which. The .wal file is absent when no
// record could be saved.
//
// The .json summary (CutReport's fields plus one entry per saved record):
//
//	{"cut_after": A, "first_lsn": A+1, "last_lsn": L, "records": L-A,
//	 "saved": n, "saved_first_lsn": F, "unsaved_first_lsn": ..., "unsaved_last_lsn": ...,
//	 "file": "<name>.wal", "need_snapshot": bool, "at": "<RFC 3339>",
//	 "entries": [{"epoch": e, "lsn": l, "type": t, "type_name": "insert", "payload_bytes": n}, ...]}

// divergedDir is the directory of diverged/ files in DataDir.
const divergedDir = "diverged"

// CutReport describes a cut of this node's log.
type CutReport struct {
	// After is the cut point: records with LSN > After were cut.
	After uint64 `json:"cut_after"`
	// Count is the number of records cut (First..Last); 0 if none.
	Count uint64 `json:"records"`
	First uint64 `json:"first_lsn,omitempty"`
	Last  uint64 `json:"last_lsn,omitempty"`
	// Saved records (SavedFirst..Last) are in File. The other Count-Saved
	// (UnsavedFirst..UnsavedLast) were no longer in the WAL.
	Saved        uint64 `json:"saved"`
	SavedFirst   uint64 `json:"saved_first_lsn,omitempty"`
	UnsavedFirst uint64 `json:"unsaved_first_lsn,omitempty"`
	UnsavedLast  uint64 `json:"unsaved_last_lsn,omitempty"`
	// File is the path of the .wal file ("" if nothing was saved);
	// Summary the path of the .json summary ("" if nothing was cut).
	File    string `json:"file,omitempty"`
	Summary string `json:"summary,omitempty"`
	// NeedSnapshot: the checkpoint is past After; nothing was cut yet and
	// the state must be replaced by a snapshot (InstallSnapshot).
	NeedSnapshot bool      `json:"need_snapshot"`
	At           time.Time `json:"at"`
}

// divergedEntry is one saved record in a summary.
type divergedEntry struct {
	Epoch        uint64 `json:"epoch"`
	LSN          uint64 `json:"lsn"`
	Type         uint8  `json:"type"`
	TypeName     string `json:"type_name"`
	PayloadBytes int    `json:"payload_bytes"`
}

// RecordTypeName returns the name of an engine record type.
func RecordTypeName(t wal.RecordType) string {
	switch t {
	case RecEpochStart:
		return "epoch_start"
	case RecCreateCollection:
		return "create_collection"
	case RecDropCollection:
		return "drop_collection"
	case RecCreatePartition:
		return "create_partition"
	case RecDropPartition:
		return "drop_partition"
	case RecCreateIndex:
		return "create_index"
	case RecDropIndex:
		return "drop_index"
	case RecLoad:
		return "load"
	case RecRelease:
		return "release"
	case RecInsert:
		return "insert"
	case RecUpsert:
		return "upsert"
	case RecDelete:
		return "delete"
	case RecCredential:
		return "credential"
	case RecCreateDatabase:
		return "create_database"
	case RecDropDatabase:
		return "drop_database"
	case RecAlterDatabase:
		return "alter_database"
	case RecCreateAlias:
		return "create_alias"
	case RecDropAlias:
		return "drop_alias"
	case RecAlterAlias:
		return "alter_alias"
	case RecRenameCollection:
		return "rename_collection"
	case RecCompact:
		return "compact"
	case RecAlterCollection:
		return "alter_collection"
	}
	return fmt.Sprintf("type_%d", t)
}

// errStopIter ends a WAL iteration early.
var errStopIter = errors.New("engine: stop iteration")

// CutLog cuts this node's log after LSN after (see above): the records
// past it are saved to DataDir/diverged/ first, then (unless the report
// says NeedSnapshot) the WAL is cut and the state rebuilt, so that
// LastLSN() == after. Nothing happens if LastLSN() <= after. Writers and
// readers wait meanwhile. The engine fails if the cut or the rebuild
// fails after the WAL was changed.
func (e *Engine) CutLog(after uint64) (CutReport, error) {
	rep := CutReport{After: after, At: time.Now().UTC()}
	if err := e.check(); err != nil {
		return rep, err
	}
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if err := e.check(); err != nil {
		return rep, err
	}
	last := e.applied.Load()
	if after >= last {
		return rep, nil
	}
	rep.Count, rep.First, rep.Last = last-after, after+1, last
	ckpt := e.ckptLSN.Load()
	rep.NeedSnapshot = ckpt > after
	if err := e.saveDiverged(&rep); err != nil {
		return rep, fmt.Errorf("engine: save diverged records: %w", err)
	}
	log := e.logger()
	log.Warn("engine: log diverged from the active's: records past the cut point saved",
		"cut_after", after, "records", rep.Count, "first_lsn", rep.First, "last_lsn", rep.Last,
		"saved", rep.Saved, "file", rep.File, "summary", rep.Summary, "need_snapshot", rep.NeedSnapshot)
	if rep.NeedSnapshot {
		return rep, nil
	}

	if err := e.wal.TruncateBack(after); err != nil {
		return rep, e.fail(fmt.Errorf("cut log after %d: %w", after, err))
	}
	e.logReplaced(after)
	// Files of segments the manifest does not list (sealed since, with
	// their index files) may belong to the cut records: remove them so
	// segment IDs reused by the rebuilt state cannot pick them up.
	if err := e.removeUnlisted(); err != nil {
		return rep, e.fail(fmt.Errorf("cut log after %d: %w", after, err))
	}
	st, err := e.readCheckpoint(e.cfg.DataDir, e.segDir)
	if err != nil {
		return rep, e.fail(fmt.Errorf("cut log after %d: reload checkpoint: %w", after, err))
	}
	if st.lsn != ckpt {
		return rep, e.fail(fmt.Errorf("cut log after %d: checkpoint at %d on disk, %d in memory", after, st.lsn, ckpt))
	}
	e.mu.Lock()
	e.resetStateLocked(st)
	err = e.wal.Iterate(ckpt+1, func(r wal.Record) error {
		if r.LSN > after {
			return errStopIter
		}
		if r.LSN != e.applied.Load()+1 {
			return fmt.Errorf("lsn %d after %d", r.LSN, e.applied.Load())
		}
		body, err := decodeRecord(r.Type, r.Payload)
		if err != nil {
			return fmt.Errorf("lsn %d: %w", r.LSN, err)
		}
		if err := e.apply(r.LSN, body); err != nil {
			return fmt.Errorf("lsn %d: %w", r.LSN, err)
		}
		e.applied.Store(r.LSN)
		return nil
	})
	e.mu.Unlock()
	if err != nil && !errors.Is(err, errStopIter) {
		return rep, e.fail(fmt.Errorf("cut log after %d: replay: %w", after, err))
	}
	if a := e.applied.Load(); a != after {
		return rep, e.fail(fmt.Errorf("cut log after %d: rebuilt state ends at %d", after, a))
	}
	e.tail.advance()
	e.ix.kick()
	log.Info("engine: state rebuilt after the cut", "lsn", after, "checkpoint_lsn", ckpt)
	return rep, nil
}

// saveDiverged writes the records rep.First..rep.Last still in the WAL and
// the summary to DataDir/diverged/. Caller holds ckptMu and writeMu.
func (e *Engine) saveDiverged(rep *CutReport) error {
	dir := filepath.Join(e.cfg.DataDir, divergedDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := fmt.Sprintf("%s-after-%d", rep.At.Format("20060102T150405.000000000Z"), rep.After)
	for i := 1; exists(filepath.Join(dir, base+".json")); i++ {
		base = fmt.Sprintf("%s-after-%d-%d", rep.At.Format("20060102T150405.000000000Z"), rep.After, i)
	}
	first := rep.First
	if f := e.wal.FirstLSN(); f == 0 {
		first = rep.Last + 1 // the WAL holds none of them
	} else {
		first = max(first, f)
	}
	var entries []divergedEntry
	if first <= rep.Last {
		path := filepath.Join(dir, base+".wal")
		fw, err := wal.CreateFile(path, first)
		if err != nil {
			return err
		}
		err = e.wal.Iterate(first, func(r wal.Record) error {
			if r.LSN > rep.Last {
				return errStopIter
			}
			entries = append(entries, divergedEntry{Epoch: r.Epoch, LSN: r.LSN, Type: uint8(r.Type), TypeName: RecordTypeName(r.Type), PayloadBytes: len(r.Payload)})
			return fw.Append(r)
		})
		if err != nil && !errors.Is(err, errStopIter) {
			fw.Abort()
			return err
		}
		if err := fw.Close(); err != nil {
			os.Remove(path)
			return err
		}
		if n := uint64(len(entries)); n != rep.Last-first+1 {
			os.Remove(path)
			return fmt.Errorf("read %d records %d..%d from the wal, want %d", n, first, rep.Last, rep.Last-first+1)
		}
		rep.Saved, rep.SavedFirst, rep.File = rep.Last-first+1, first, path
	}
	if first > rep.First {
		rep.UnsavedFirst, rep.UnsavedLast = rep.First, first-1
	}
	sum := struct {
		CutReport
		File    string          `json:"file,omitempty"`
		Entries []divergedEntry `json:"entries"`
	}{CutReport: *rep, Entries: entries}
	if rep.File != "" {
		sum.File = filepath.Base(rep.File)
	}
	b, err := json.MarshalIndent(sum, "", " ")
	if err != nil {
		return err
	}
	rep.Summary = filepath.Join(dir, base+".json")
	tmp := rep.Summary + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, rep.Summary); err != nil {
		return err
	}
	return fileutil.SyncDir(dir)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeUnlisted removes the files in the segments directory that belong
// neither to a segment the manifest lists (its segment and index files,
// named by the segment ID) nor are its tombstone file. Caller holds
// ckptMu.
func (e *Engine) removeUnlisted() error {
	keep := map[string]bool{}
	var prefixes []string
	m, err := readManifest(filepath.Join(e.cfg.DataDir, manifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		for _, s := range m.segs {
			prefixes = append(prefixes, fmt.Sprintf("%020d.", s.id))
		}
		if m.tomb != "" {
			keep[m.tomb] = true
		}
	}
	ents, err := os.ReadDir(e.segDir)
	if err != nil {
		return err
	}
	removed := false
	for _, ent := range ents {
		name := ent.Name()
		if keep[name] || (!strings.HasSuffix(name, ".tmp") && hasAnyPrefix(name, prefixes)) {
			continue
		}
		if err := os.Remove(filepath.Join(e.segDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		removed = true
	}
	if removed {
		return fileutil.SyncDir(e.segDir)
	}
	return nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
