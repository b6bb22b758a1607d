package engine

import (
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// noAutoCompact turns the automatic pass off (tests drive compaction).
func noAutoCompact(c *Config) { c.SegmentMaxRows = 100; c.CompactionInterval = -1 }

// smallSegments writes n batches of per rows (keys from 0) into coll "c",
// flushing after each, so that each batch is one sealed segment; then
// upserts every 7th key and deletes every 5th key.
func smallSegments(t *testing.T, e *Engine, n, per int) {
	t.Helper()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	r := rand.New(rand.NewSource(7))
	for i := 0; i < n; i++ {
		b := genBatch(r, seq(i*per, per), 4, false)
		if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), per); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(bg, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	var up []int64
	for k := 0; k < n*per; k += 7 {
		up = append(up, int64(k))
	}
	b := genBatch(r, up, 4, false)
	if _, err := e.Upsert(bg, "", "c", "", b.fields(4, true, false, false), len(up)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete(bg, "", "c", "", "id % 5 == 0"); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(bg, "", nil); err != nil {
		t.Fatal(err)
	}
}

// observe returns what clients see: a query of every row (scan order) and
// a search.
func observe(t *testing.T, e *Engine) string {
	t.Helper()
	q, err := e.Query(bg, &QueryRequest{Collection: "c", Filter: "id >= 0", OutputFields: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Search(bg, &SearchRequest{Collection: "c", Vectors: [][]float32{{0.1, 0.2, -0.3, 0.4}, {-1, 0, 1, 0}}, TopK: 25, OutputFields: []string{"age", "tag"}, RoundDecimal: -1})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, fd := range q {
		b, _ := proto.Marshal(fd)
		sb.Write(b)
	}
	b, _ := proto.Marshal(s)
	sb.Write(b)
	return sb.String()
}

func sealedSegs(e *Engine) int { return e.Stats().SealedSegs }

// TestCompactionMergePurge: 40 sealed segments of 10 rows with upserts and
// deletes merge into full segments without the deleted rows; the digest
// and every query and search answer are unchanged, later deletes and
// upserts hit the merged rows, and a restart keeps the merged layout.
func TestCompactionMergePurge(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, noAutoCompact)
	smallSegments(t, e, 40, 10)
	before, seen := mustDigest(t, e), observe(t, e)
	nBefore := sealedSegs(e)
	if nBefore < 40 {
		t.Fatalf("%d sealed segments before", nBefore)
	}
	plans := e.CompactNow(false)
	if len(plans) == 0 {
		t.Fatal("no plans")
	}
	purged := 0
	for _, p := range plans {
		purged += p.Purged
	}
	// 400 rows, 80 deleted, 58 superseded by the upsert (its new rows are
	// in the last segment, which is merged too).
	if purged == 0 {
		t.Fatal("nothing purged")
	}
	nAfter := sealedSegs(e)
	if nAfter > 4 {
		t.Fatalf("%d sealed segments after (from %d)", nAfter, nBefore)
	}
	if got := mustDigest(t, e); got != before {
		t.Fatal("digest changed by compaction")
	}
	if observe(t, e) != seen {
		t.Fatal("query or search answers changed by compaction")
	}
	// Nothing left to do.
	if p := e.CompactNow(true); len(p) != 0 {
		t.Fatalf("second pass planned %d merges", len(p))
	}
	// Deletes and upserts of merged rows.
	if n, err := e.Delete(bg, "", "c", "", "id in [1, 2, 3, 5]"); err != nil || n != 3 {
		t.Fatalf("delete: %d %v", n, err)
	}
	r := rand.New(rand.NewSource(9))
	b := genBatch(r, []int64{11, 12, 15}, 4, false)
	if _, err := e.Upsert(bg, "", "c", "", b.fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	st, err := e.Query(bg, &QueryRequest{Collection: "c", OutputFields: []string{"count(*)"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := st[0].GetScalars().GetLongData().GetData()[0]; got != 400-80-3+1 {
		t.Fatalf("count(*) %d", got)
	}
	final, seen := mustDigest(t, e), observe(t, e)
	segsFinal := sealedSegs(e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Only the referenced segment files remain.
	ents, _ := os.ReadDir(filepath.Join(dir, "segments"))
	nfiles := 0
	for _, ent := range ents {
		if strings.HasSuffix(ent.Name(), ".seg") {
			nfiles++
		}
	}
	if nfiles > segsFinal+1 {
		t.Fatalf("%d segment files for %d segments", nfiles, segsFinal)
	}
	e = openTest(t, dir, noAutoCompact)
	defer e.Close()
	if mustDigest(t, e) != final || observe(t, e) != seen {
		t.Fatal("state changed by restart after compaction")
	}
	if n := sealedSegs(e); n > segsFinal+1 {
		t.Fatalf("%d sealed segments after restart (had %d)", n, segsFinal)
	}
}

// TestCompactionStringPKAllDeleted: string keys; a run whose rows are all
// deleted disappears.
func TestCompactionStringPKAllDeleted(t *testing.T) {
	e := openTest(t, t.TempDir(), noAutoCompact)
	defer e.Close()
	setupColl(t, e, "s", 4, "IP", true, false, false)
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 6; i++ {
		b := genBatch(r, seq(i*10, 10), 4, true)
		if _, err := e.Insert(bg, "", "s", "", b.fields(4, true, true, false), 10); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(bg, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Delete(bg, "", "s", "", "age >= 0"); err != nil {
		t.Fatal(err)
	}
	d := mustDigest(t, e)
	e.CompactNow(true)
	if n := sealedSegs(e); n != 0 {
		t.Fatalf("%d sealed segments left", n)
	}
	if mustDigest(t, e) != d {
		t.Fatal("digest changed")
	}
	b := genBatch(r, []int64{3}, 4, true)
	if _, err := e.Insert(bg, "", "s", "", b.fields(4, true, true, false), 1); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Delete(bg, "", "s", "", `id in ["k3", "k4"]`); err != nil || n != 1 {
		t.Fatalf("delete %d %v", n, err)
	}
}

// TestCompactionManual: the ManualCompaction path: -1 without work, a
// missing collection, a record whose LSN is the ID, the state, and an
// unknown ID.
func TestCompactionManual(t *testing.T) {
	e := openTest(t, t.TempDir(), noAutoCompact)
	defer e.Close()
	if _, _, err := e.Compact(bg, "", "nope"); merr.Code(err) != 100 || !strings.Contains(err.Error(), "collection not found[collection=nope]") {
		t.Fatalf("missing collection: %v", err)
	}
	setupColl(t, e, "c", 4, "L2", false, false, false)
	if id, n, err := e.Compact(bg, "", "c"); err != nil || id != -1 || n != 0 {
		t.Fatalf("empty collection: %d %d %v", id, n, err)
	}
	e.Close()
	e = openTest(t, t.TempDir(), noAutoCompact)
	defer e.Close()
	smallSegments(t, e, 12, 10)
	d := mustDigest(t, e)
	id, n, err := e.Compact(bg, "", "c")
	if err != nil || id <= 0 || n < 1 {
		t.Fatalf("compact: %d %d %v", id, n, err)
	}
	st, err := e.WaitCompaction(bg, id)
	if err != nil || !st.Known || st.Executing || len(st.Plans) != n {
		t.Fatalf("state %+v %v", st, err)
	}
	if len(st.Plans[0].Sources) < 2 || st.Plans[0].Target == 0 {
		t.Fatalf("plan %+v", st.Plans[0])
	}
	if mustDigest(t, e) != d {
		t.Fatal("digest changed")
	}
	if st := e.CompactionState(12345); st.Known || st.Executing {
		t.Fatalf("unknown id: %+v", st)
	}
}

// TestCompactionDeterminism: A compacts (automatic and manual passes)
// while a random workload runs; B applies A's records (as a standby does,
// so it runs the manual compactions on its own layout too) and every
// sampled digest matches; so does a third copy that never compacts.
func TestCompactionDeterminism(t *testing.T) {
	a := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 37; c.CompactionInterval = -1 })
	defer a.Close()
	var recs []wal.Record
	digests := map[uint64]string{}
	collect := func() {
		if err := a.IterateWAL(uint64(len(recs))+1, func(r wal.Record) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	compactions := 0
	randomWorkload(t, a, 11, 300, func(op int) {
		switch op % 10 {
		case 3:
			compactions += len(a.CompactNow(false))
		case 8:
			for _, name := range []string{"c0", "c1", "c2", "c3", "c4"} {
				if id, _, err := a.Compact(bg, "", name); err == nil && id > 0 {
					if _, err := a.WaitCompaction(bg, id); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		collect()
		if op%5 == 0 {
			digests[a.LastLSN()] = mustDigest(t, a)
		}
	})
	digests[a.LastLSN()] = mustDigest(t, a)
	if compactions == 0 {
		t.Fatal("no automatic compaction happened")
	}
	nCompact := 0
	for _, r := range recs {
		if r.Type == RecCompact {
			nCompact++
		}
	}
	if nCompact == 0 {
		t.Fatal("no manual compaction record")
	}
	for _, segMax := range []int{37, 1000} {
		b := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = segMax; c.CompactionInterval = -1 })
		compared := 0
		for _, r := range recs {
			if err := b.ApplyRecord(r); err != nil {
				t.Fatalf("apply lsn %d: %v", r.LSN, err)
			}
			if r.Type == RecCompact {
				if _, err := b.WaitCompaction(bg, int64(r.LSN)); err != nil {
					t.Fatal(err)
				}
			}
			if want, ok := digests[r.LSN]; ok {
				if err := b.WaitDurable(bg, r.LSN); err != nil {
					t.Fatal(err)
				}
				if got := mustDigest(t, b); got != want {
					t.Fatalf("segmax %d: digest differs at lsn %d", segMax, r.LSN)
				}
				compared++
			}
		}
		if compared < 20 {
			t.Fatalf("only %d digests compared", compared)
		}
		b.Close()
	}
}

// TestCompactionTombstoneRewrite: a checkpoint rewritten at the same LSN
// (compaction without new writes) uses a new tombstone file name, so the
// previous manifest stays loadable until the new one replaces it.
func TestCompactionTombstoneRewrite(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, noAutoCompact)
	smallSegments(t, e, 8, 10)
	// A full segment with one delete: not worth compacting, so its
	// tombstone stays in the rewritten checkpoint.
	setupColl(t, e, "big", 4, "L2", false, false, false)
	b := genBatch(rand.New(rand.NewSource(5)), seq(0, 100), 4, false)
	if _, err := e.Insert(bg, "", "big", "", b.fields(4, true, false, false), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete(bg, "", "big", "", "id in [1]"); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(bg, "", nil); err != nil {
		t.Fatal(err)
	}
	old := e.tombFile
	lsn := e.CheckpointLSN()
	if len(e.CompactNow(false)) == 0 {
		t.Fatal("nothing compacted")
	}
	if e.CheckpointLSN() != lsn {
		t.Fatalf("checkpoint lsn moved %d -> %d", lsn, e.CheckpointLSN())
	}
	if old == "" || e.tombFile == "" || e.tombFile == old {
		t.Fatalf("tombstone files: %q then %q", old, e.tombFile)
	}
	d := mustDigest(t, e)
	e.Close()
	e = openTest(t, dir, noAutoCompact)
	defer e.Close()
	if mustDigest(t, e) != d {
		t.Fatal("digest changed")
	}
}

func TestCompactionRecordRoundTrip(t *testing.T) {
	p, err := encodeRecord(&recCompact{collID: 42}, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeRecord(RecCompact, p)
	if err != nil || b.(*recCompact).collID != 42 {
		t.Fatalf("%v %v", b, err)
	}
	if _, err := decodeRecord(RecCompact, p[:len(p)-1]); err == nil {
		t.Fatal("short payload decoded")
	}
	if RecordTypeName(RecCompact) != "compact" {
		t.Fatal(RecordTypeName(RecCompact))
	}
	v, err := ViewRecord(RecCompact, p)
	if err != nil || v.CollectionID != 42 {
		t.Fatalf("%+v %v", v, err)
	}
}

// FuzzDecodeCompactRecord: any payload either fails to decode or decodes
// to a body that encodes back to the same bytes.
func FuzzDecodeCompactRecord(f *testing.F) {
	for _, id := range []int64{0, 1, 42, -1, 1 << 40} {
		p, _ := encodeRecord(&recCompact{collID: id}, 16)
		f.Add(p)
	}
	f.Add([]byte{1})
	f.Add([]byte{2, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeRecord(RecCompact, data)
		if err != nil {
			return
		}
		p, err := encodeRecord(b, 16)
		if err != nil || string(p) != string(data) {
			t.Fatalf("round trip of %x: %x %v", data, p, err)
		}
	})
}

// TestCompactionReadLimitHorizon: on a node whose read limit was enabled,
// deletes above the limit are kept (with their delete LSN), so a reader
// at the limit still sees the rows; once the limit passes them they go.
func TestCompactionReadLimitHorizon(t *testing.T) {
	e := openTest(t, t.TempDir(), noAutoCompact)
	defer e.Close()
	smallSegments(t, e, 6, 10)
	limit := e.LastLSN()
	e.SetReadLimit(true, limit)
	if _, err := e.Delete(bg, "", "c", "", "id in [1, 2, 3]"); err != nil {
		t.Fatal(err)
	}
	d := mustDigest(t, e) // at the limit: rows 1, 2, 3 still visible
	e.CompactNow(true)
	if mustDigest(t, e) != d {
		t.Fatal("digest at the read limit changed")
	}
	q, err := e.Query(bg, &QueryRequest{Collection: "c", Filter: "id in [1, 2, 3]", OutputFields: []string{"id"}})
	if err != nil || q[0].GetScalars().GetLongData().GetData() == nil || len(q[0].GetScalars().GetLongData().GetData()) != 3 {
		t.Fatalf("rows deleted above the read limit: %v %v", q, err)
	}
	e.AdvanceReadLimit(e.LastLSN())
	e.SetReadLimit(false, 0)
	e.SetReadLimit(true, e.LastLSN())
	e.CompactNow(true)
	e.mu.RLock()
	held := 0
	for _, p := range e.cat.byName[nameKey(normDB(""), "c")].partitions {
		for _, s := range p.segs {
			held += s.rows
		}
	}
	live := e.cat.byName[nameKey(normDB(""), "c")].liveRows
	e.mu.RUnlock()
	if int64(held) != live {
		t.Fatalf("%d rows held for %d live after the limit passed the deletes", held, live)
	}
}

// TestCompactionCopiesEveryColumnMember: appendFrom copies segColumn's
// members one by one; a member added to segColumn (per-row state such as
// a validity bitmap or another vector layout) must be copied there and
// listed here, or compaction would drop it.
func TestCompactionCopiesEveryColumnMember(t *testing.T) {
	// typ, valid and bin belong to non-float vector and nullable columns,
	// which appendFrom does not copy: compactable() leaves such
	// collections alone (TestCompactableSkipsUncopiedColumns).
	known := map[string]bool{"data": true, "dim": true, "chunks": true, "norms": true, "typ": true, "valid": true, "bin": true}
	typ := reflect.TypeOf(segColumn{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Name; !known[name] {
			t.Errorf("segColumn.%s is not copied by segment.appendFrom (compact.go)", name)
		}
	}
}

func TestCompactableSkipsUncopiedColumns(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *schemapb.FieldSchema
		want bool
	}{
		{"float", &schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_Int64}, true},
		{"nullable", &schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_Int64, Nullable: true}, false},
		{"binary", &schemapb.FieldSchema{Name: "b", DataType: schemapb.DataType_BinaryVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "16"}}}, false},
	} {
		s := &schemapb.CollectionSchema{Name: "c", Fields: []*schemapb.FieldSchema{
			{FieldID: 100, Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
			{FieldID: 101, Name: "v", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "4"}}},
		}}
		tc.f.FieldID = 102
		s.Fields = append(s.Fields, tc.f)
		c, err := newCollection(1, "c", 0, s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := compactable(c); got != tc.want {
			t.Errorf("%s: compactable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
