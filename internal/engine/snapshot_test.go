package engine

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/wal"
)

// Tests for CutLog (cut.go), snapshots (snapshot.go) and WAL retention
// (retention.go), with two engines in one process: records are copied
// with IterateWAL/ApplyRecord, snapshot files through a SnapshotStage.

const haDim = 6

func haConfig(c *Config) {
	c.SegmentMaxRows = 40
	c.IndexMinRows = 1
}

// haSetup creates collection "c" with an HNSW index (so sealed segments
// get index files) and loads it.
func haSetup(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.CreateCollection(bg, "", testSchema("c", haDim, false, false, false), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, "", "c", "vec", "", map[string]string{"index_type": "HNSW", "metric_type": "L2", "M": "8", "efConstruction": "32"}); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", "c"); err != nil {
		t.Fatal(err)
	}
}

// haWrite inserts n rows with keys from key (some overlapping earlier
// keys: upserts) and deletes a few keys, with randomness from r.
func haWrite(t *testing.T, e *Engine, r *rand.Rand, key, n int) {
	t.Helper()
	b := genBatch(r, seq(key, n), haDim, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(haDim, true, false, false), n); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if key > 10 {
		ex := fmt.Sprintf("id in [%d, %d]", r.Intn(key), r.Intn(key))
		if _, err := e.Delete(bg, "", "c", "", ex); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
}

// copyRecords applies src's records from..src.LastLSN() to dst.
func copyRecords(t *testing.T, src, dst *Engine, from uint64) {
	t.Helper()
	last := src.LastLSN()
	err := src.IterateWAL(from, func(r wal.Record) error {
		if r.LSN > last {
			return errStopIter
		}
		return dst.ApplyRecord(r)
	})
	if err != nil && !errors.Is(err, errStopIter) {
		t.Fatalf("copy records from %d: %v", from, err)
	}
	if err := dst.WaitDurable(bg, dst.LastLSN()); err != nil {
		t.Fatal(err)
	}
}

// walRecords returns e's WAL records from..to.
func walRecords(t *testing.T, e *Engine, from, to uint64) []wal.Record {
	t.Helper()
	var out []wal.Record
	err := e.IterateWAL(from, func(r wal.Record) error {
		if r.LSN > to {
			return errStopIter
		}
		out = append(out, r)
		return nil
	})
	if err != nil && !errors.Is(err, errStopIter) {
		t.Fatal(err)
	}
	return out
}

// readDiverged returns the records of a diverged .wal file.
func readDiverged(t *testing.T, path string) []wal.Record {
	t.Helper()
	var out []wal.Record
	if err := wal.ReadFile(path, func(r wal.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRecords(t *testing.T, got, want []wal.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Epoch != w.Epoch || g.LSN != w.LSN || g.Type != w.Type || string(g.Payload) != string(w.Payload) {
			t.Fatalf("record %d: epoch %d lsn %d type %d (%d bytes), want epoch %d lsn %d type %d (%d bytes)",
				i, g.Epoch, g.LSN, g.Type, len(g.Payload), w.Epoch, w.LSN, w.Type, len(w.Payload))
		}
	}
}

// TestCutLogRebuilds: a standby that wrote records the active never had
// (it was the active, then lost its lease) cuts them after the common
// prefix, keeps them in diverged/, rebuilds from its checkpoint + WAL and
// then follows the new active to an equal state.
func TestCutLogRebuilds(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	a := openTest(t, t.TempDir(), haConfig)
	defer a.Close()
	dirB := t.TempDir()
	b := openTest(t, dirB, haConfig)
	defer func() { b.Close() }()

	haSetup(t, a)
	haWrite(t, a, r, 0, 100)
	copyRecords(t, a, b, 1)
	if err := b.Checkpoint(bg); err != nil { // the checkpoint is before the cut point
		t.Fatal(err)
	}
	haWrite(t, a, r, 100, 30)
	copyRecords(t, a, b, b.LastLSN()+1)
	common, commonDigest := a.LastLSN(), mustDigest(t, a)

	// b goes on alone (enough rows to seal segments past its checkpoint,
	// whose index files then exist on disk); a starts a new epoch.
	for i := range 4 {
		haWrite(t, b, r, 1000+50*i, 50)
	}
	if err := b.WaitIndexBuilds(bg); err != nil {
		t.Fatal(err)
	}
	bLast := b.LastLSN()
	cutRecs := walRecords(t, b, common+1, bLast)
	if _, err := a.WriteEpochStart(bg, 2); err != nil {
		t.Fatal(err)
	}
	haWrite(t, a, r, 130, 20)

	rep, err := b.CutLog(common)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NeedSnapshot || rep.Count != bLast-common || rep.First != common+1 || rep.Last != bLast || rep.Saved != rep.Count || rep.UnsavedFirst != 0 {
		t.Fatalf("cut report %+v, want %d..%d all saved", rep, common+1, bLast)
	}
	if b.LastLSN() != common {
		t.Fatalf("after the cut: lsn %d, want %d", b.LastLSN(), common)
	}
	if got := mustDigest(t, b); got != commonDigest {
		t.Fatal("after the cut: digest differs from the active's at the cut point")
	}
	sameRecords(t, readDiverged(t, rep.File), cutRecs)
	if !strings.HasPrefix(rep.File, filepath.Join(dirB, "diverged")+string(filepath.Separator)) || !strings.HasSuffix(rep.File, fmt.Sprintf("-after-%d.wal", common)) {
		t.Fatalf("diverged file %s", rep.File)
	}
	sum, err := os.ReadFile(rep.Summary)
	if err != nil || !strings.Contains(string(sum), `"type_name": "insert"`) || !strings.Contains(string(sum), fmt.Sprintf(`"cut_after": %d`, common)) {
		t.Fatalf("summary %s: %v\n%s", rep.Summary, err, sum)
	}

	// b follows a again and reaches its state; the cut survives a crash.
	copyRecords(t, a, b, common+1)
	if got, want := mustDigest(t, b), mustDigest(t, a); got != want || b.LastLSN() != a.LastLSN() {
		t.Fatalf("after following: lsn %d vs %d, digests equal %v", b.LastLSN(), a.LastLSN(), got == want)
	}
	if err := b.WaitIndexBuilds(bg); err != nil {
		t.Fatal(err)
	}
	want := mustDigest(t, a)
	b.abandon()
	b = openTest(t, dirB, haConfig)
	if got := mustDigest(t, b); got != want || b.LastLSN() != a.LastLSN() {
		t.Fatal("after a crash: state differs")
	}
	// Nothing to cut: a no-op.
	if rep, err := b.CutLog(b.LastLSN()); err != nil || rep.Count != 0 {
		t.Fatalf("no-op cut: %+v, %v", rep, err)
	}
}

// TestCutLogPastCheckpointNeedsSnapshot: when the standby's checkpoint
// covers records past the cut point, CutLog saves what the WAL still has,
// reports the rest, changes nothing and asks for a snapshot; installing
// the active's snapshot then gives the active's state.
func TestCutLogPastCheckpointNeedsSnapshot(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	a := openTest(t, t.TempDir(), haConfig)
	defer a.Close()
	dirB := t.TempDir()
	b := openTest(t, dirB, func(c *Config) { haConfig(c); c.WALSegmentBytes = 4 << 10 })
	defer func() { b.Close() }()

	haSetup(t, a)
	haWrite(t, a, r, 0, 60)
	copyRecords(t, a, b, 1)
	common := a.LastLSN()
	for i := range 6 {
		haWrite(t, b, r, 1000+20*i, 20)
	}
	if err := b.Checkpoint(bg); err != nil { // past the cut point; truncates the WAL front
		t.Fatal(err)
	}
	haWrite(t, b, r, 2000, 10)
	bLast, bDigest := b.LastLSN(), mustDigest(t, b)
	first := b.FirstWALLSN()
	if first <= common+1 {
		t.Fatalf("wal first lsn %d: the checkpoint did not truncate past the cut point %d", first, common)
	}
	kept := walRecords(t, b, first, bLast)

	rep, err := b.CutLog(common)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.NeedSnapshot || rep.Count != bLast-common || rep.Saved != bLast-first+1 || rep.SavedFirst != first ||
		rep.UnsavedFirst != common+1 || rep.UnsavedLast != first-1 {
		t.Fatalf("cut report %+v (wal first %d)", rep, first)
	}
	sameRecords(t, readDiverged(t, rep.File), kept)
	if b.LastLSN() != bLast || mustDigest(t, b) != bDigest {
		t.Fatal("CutLog changed the state although it needs a snapshot")
	}

	if _, err := a.WriteEpochStart(bg, 2); err != nil {
		t.Fatal(err)
	}
	haWrite(t, a, r, 60, 30)
	snap, err := a.OpenSnapshot(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	want := mustDigest(t, a)
	transfer(t, snap, b, nil)
	if b.LastLSN() != snap.LSN || mustDigest(t, b) != want {
		t.Fatal("after the snapshot: state differs")
	}
	if h := b.EpochHistory(); len(h) != 1 || h[0] != (EpochStart{Epoch: 2, LSN: common + 1}) {
		t.Fatalf("epoch history %+v", h)
	}
	if f := b.FirstWALLSN(); f != 0 {
		t.Fatalf("wal first lsn %d after the install, want empty", f)
	}
}

// transfer copies snap into e through a stage and installs it; corrupt,
// if set, may change each chunk before it is written.
func transfer(t *testing.T, snap *Snapshot, e *Engine, corrupt func(file int, b []byte)) error {
	t.Helper()
	st, err := e.StageSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	fail := func(err error) error {
		st.Abort()
		if corrupt == nil {
			t.Fatal(err)
		}
		return err
	}
	for i, sf := range snap.Files {
		f, err := snap.Open(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.BeginFile(sf.Name, sf.Size); err != nil {
			f.Close()
			return fail(err)
		}
		buf := make([]byte, 1000)
		for {
			n, rerr := io.ReadFull(f, buf)
			if n > 0 {
				chunk := append([]byte(nil), buf[:n]...)
				if corrupt != nil {
					corrupt(i, chunk)
				}
				if err := st.Write(chunk); err != nil {
					f.Close()
					return fail(err)
				}
			}
			if rerr != nil {
				break
			}
		}
		f.Close()
		if err := st.EndFile(); err != nil {
			return fail(err)
		}
	}
	if err := e.InstallSnapshot(st, snap.LSN); err != nil {
		return fail(err)
	}
	return nil
}

// TestSnapshotInstallAndFollow: an empty standby installs the active's
// snapshot (segments, index files, tombstones) taken while the active
// keeps writing and checkpointing, then follows the WAL after it; the
// state matches at every step and survives a restart.
func TestSnapshotInstallAndFollow(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	dirA := t.TempDir()
	a := openTest(t, dirA, func(c *Config) { haConfig(c); c.WALSegmentBytes = 4 << 10 })
	defer a.Close()
	haSetup(t, a)
	for i := range 5 {
		haWrite(t, a, r, 40*i, 40)
	}
	if err := a.WaitIndexBuilds(bg); err != nil {
		t.Fatal(err)
	}
	snap, err := a.OpenSnapshot(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	atSnap := mustDigest(t, a)
	if snap.LSN != a.LastLSN() || snap.Files[0].Name != "MANIFEST" {
		t.Fatalf("snapshot at %d (active at %d), files %+v", snap.LSN, a.LastLSN(), snap.Files)
	}
	var nIdx int
	for _, f := range snap.Files {
		if strings.HasSuffix(f.Name, ".hnsw") {
			nIdx++
		}
	}
	if nIdx == 0 {
		t.Fatalf("no index file in the snapshot: %+v", snap.Files)
	}

	// The active keeps writing and checkpointing (deleting files the
	// snapshot lists, truncating its WAL) while the snapshot is held.
	haWrite(t, a, r, 5, 200) // upserts rows of the sealed segments
	for i := range 4 {
		haWrite(t, a, r, 300+40*i, 40)
	}
	if err := a.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if f := a.FirstWALLSN(); f == 0 || f > snap.LSN+1 {
		t.Fatalf("wal first lsn %d: the snapshot's pin (from %d) did not hold", f, snap.LSN+1)
	}
	haWrite(t, a, r, 500, 10)

	dirB := t.TempDir()
	b := openTest(t, dirB, haConfig)
	defer func() { b.Close() }()
	// A corrupt chunk is caught by the file's CRC; nothing changes.
	if err := transfer(t, snap, b, func(file int, c []byte) {
		if file == 1 {
			c[len(c)/2] ^= 1
		}
	}); err == nil || !errors.Is(err, errSnapshot) {
		t.Fatalf("corrupt snapshot installed: %v", err)
	}
	if b.LastLSN() != 0 || exists(filepath.Join(dirB, stageDir)) {
		t.Fatal("a refused snapshot left something behind")
	}
	transfer(t, snap, b, nil)
	if b.LastLSN() != snap.LSN || mustDigest(t, b) != atSnap {
		t.Fatal("after the install: state differs from the active's at the snapshot")
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	copyRecords(t, a, b, snap.LSN+1)
	if got, want := mustDigest(t, b), mustDigest(t, a); got != want || b.LastLSN() != a.LastLSN() {
		t.Fatal("after following: state differs")
	}
	if err := b.WaitIndexBuilds(bg); err != nil {
		t.Fatal(err)
	}
	want := mustDigest(t, a)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dirB, haConfig)
	if got := mustDigest(t, b); got != want || b.LastLSN() != a.LastLSN() {
		t.Fatal("after a restart: state differs")
	}
	if ents, _ := os.ReadDir(filepath.Join(dirA, snapshotsDir)); len(ents) != 0 {
		t.Fatalf("snapshot files left on the active: %v", ents)
	}
}

// TestSnapshotInstallInterrupted: a crash after the install marker is
// written is completed by Open.
func TestSnapshotInstallInterrupted(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	a := openTest(t, t.TempDir(), haConfig)
	defer a.Close()
	haSetup(t, a)
	haWrite(t, a, r, 0, 100)
	snap, err := a.OpenSnapshot(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	want := mustDigest(t, a)

	dirB := t.TempDir()
	b := openTest(t, dirB, haConfig)
	haSetup(t, b)
	haWrite(t, b, r, 0, 30) // its own, different state
	st, err := b.StageSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i, sf := range snap.Files {
		data, err := os.ReadFile(filepath.Join(snap.dir, filepath.FromSlash(sf.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.BeginFile(sf.Name, sf.Size); err != nil {
			t.Fatal(err)
		}
		if err := st.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := st.EndFile(); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	b.abandon() // crash with a complete stage and the marker written
	w := &enc{}
	w.b = append(w.b, installMagic...)
	w.u32(fileVersion)
	w.u64(snap.LSN)
	if err := writeFileAtomic(filepath.Join(dirB, installMarker), w.b); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dirB, haConfig)
	defer func() { b.Close() }()
	if b.LastLSN() != snap.LSN || mustDigest(t, b) != want {
		t.Fatal("interrupted install not completed")
	}
	for _, name := range []string{installMarker, stageDir, oldSegmentsDir} {
		if exists(filepath.Join(dirB, name)) {
			t.Fatalf("%s left behind", name)
		}
	}
	// A partial stage without a marker is dropped at Open.
	if _, err := b.StageSnapshot(); err != nil {
		t.Fatal(err)
	}
	b.abandon()
	b = openTest(t, dirB, haConfig)
	if exists(filepath.Join(dirB, stageDir)) || b.LastLSN() != snap.LSN {
		t.Fatal("partial stage not dropped")
	}
}

// TestWALRetentionPins: a pin keeps the WAL records after it through
// checkpoints, within WALRetainBytes; expired and released pins hold
// nothing.
func TestWALRetentionPins(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	e := openTest(t, t.TempDir(), func(c *Config) {
		haConfig(c)
		c.WALSegmentBytes = 4 << 10
		c.WALRetainBytes = 256 << 10
	})
	defer e.Close()
	haSetup(t, e)
	haWrite(t, e, r, 0, 20)
	pin := e.PinWAL(e.LastLSN() + 1)
	pinned := pin.From()
	for i := range 10 {
		haWrite(t, e, r, 20+20*i, 20)
	}
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if f := e.FirstWALLSN(); f == 0 || f > pinned {
		t.Fatalf("wal first lsn %d, want <= pinned %d", f, pinned)
	}
	// Past the size bound the pin no longer holds.
	for e.wal.SizeBytes() < 300<<10 {
		haWrite(t, e, r, 1000, 40)
	}
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if f := e.FirstWALLSN(); f <= pinned || e.wal.SizeBytes() > 256<<10+8<<10 {
		t.Fatalf("wal first lsn %d (%d bytes): the retention bound did not apply", f, e.wal.SizeBytes())
	}
	// A moved pin holds again; an expired one does not.
	pin.Move(e.LastLSN() - 5)
	pinned = pin.From()
	for i := range 5 {
		haWrite(t, e, r, 2000+20*i, 20)
	}
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if f := e.FirstWALLSN(); f > pinned {
		t.Fatalf("wal first lsn %d, want <= %d", f, pinned)
	}
	pin.Expire(-1)
	haWrite(t, e, r, 3000, 20)
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if f := e.FirstWALLSN(); f <= pinned {
		t.Fatalf("wal first lsn %d: an expired pin held the wal", f)
	}
	pin.Release()
	if e.oldestPinned() != 0 {
		t.Fatal("pins left")
	}
}
