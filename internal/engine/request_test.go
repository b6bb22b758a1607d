package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

func withID(id string) context.Context { return WithRequestID(bg, id) }

// ageOf returns the age of row id in collection c, or -1 if absent.
func ageOf(t *testing.T, e *Engine, c string, id int64) int64 {
	t.Helper()
	res, err := e.Query(bg, &QueryRequest{Collection: c, Filter: fmt.Sprintf("id == %d", id), OutputFields: []string{"age"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range res {
		if fd.GetFieldName() == "age" {
			if v := fd.GetScalars().GetLongData().GetData(); len(v) > 0 {
				return v[0]
			}
		}
	}
	return -1
}

// oneRow is row id with the given age in the test schema.
func oneRow(id, age int64) []*schemapb.FieldData {
	b := genBatch(rand.New(rand.NewSource(id)), []int64{id}, 4, false)
	b.ages[0] = age
	return b.fields(4, true, false, false)
}

// TestWindow10RequestDedup: a write re-sent with its request id returns
// the original result and applies nothing, also after another client's
// write to the same key; a reused id with another write is refused.
func TestWindow10RequestDedup(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	setupColl(t, e, "auto", 4, "L2", false, true, false)

	// Upsert, another client's upsert, the re-sent upsert.
	if _, err := e.Upsert(withID("u1"), "", "c", "", oneRow(1, 10), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Upsert(bg, "", "c", "", oneRow(1, 20), 1); err != nil {
		t.Fatal(err)
	}
	lsn := e.LastLSN()
	ids, err := e.Upsert(withID("u1"), "", "c", "", oneRow(1, 10), 1)
	if err != nil || len(ids.GetIntId().GetData()) != 1 || ids.GetIntId().GetData()[0] != 1 {
		t.Fatalf("re-sent upsert: %v %v", ids, err)
	}
	if e.LastLSN() != lsn || ageOf(t, e, "c", 1) != 20 {
		t.Fatalf("re-sent upsert applied: lsn %d -> %d, age %d (want 20)", lsn, e.LastLSN(), ageOf(t, e, "c", 1))
	}

	// Delete, another client's insert, the re-sent delete.
	if n, err := e.Delete(withID("d1"), "", "c", "", "id in [1]"); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if _, err := e.Insert(bg, "", "c", "", oneRow(1, 30), 1); err != nil {
		t.Fatal(err)
	}
	lsn = e.LastLSN()
	if n, err := e.Delete(withID("d1"), "", "c", "", "id in [1]"); err != nil || n != 1 {
		t.Fatalf("re-sent delete: %d %v, want the original 1", n, err)
	}
	if e.LastLSN() != lsn || ageOf(t, e, "c", 1) != 30 {
		t.Fatalf("re-sent delete applied: lsn %d -> %d, age %d (want 30)", lsn, e.LastLSN(), ageOf(t, e, "c", 1))
	}

	// Insert with auto IDs: the re-sent insert gets the original IDs.
	first, err := e.Insert(withID("i1"), "", "auto", "", genBatch(rand.New(rand.NewSource(1)), seq(0, 3), 4, false).fields(4, false, false, false), 3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Insert(withID("i1"), "", "auto", "", genBatch(rand.New(rand.NewSource(1)), seq(0, 3), 4, false).fields(4, false, false, false), 3)
	if err != nil || fmt.Sprint(again.GetIntId().GetData()) != fmt.Sprint(first.GetIntId().GetData()) {
		t.Fatalf("re-sent insert: %v %v, want ids %v", again, err, first.GetIntId().GetData())
	}
	if st, err := e.CollectionStats("", "auto"); err != nil || st.RowCount != 3 {
		t.Fatalf("rows after the re-sent insert: %+v %v", st, err)
	}

	// A reused id with another write, and bad ids, change nothing.
	lsn = e.LastLSN()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"other payload", func() error { _, err := e.Upsert(withID("u1"), "", "c", "", oneRow(1, 11), 1); return err }()},
		{"other kind", func() error { _, err := e.Delete(withID("u1"), "", "c", "", "id in [1]"); return err }()},
		{"other collection", func() error { _, err := e.Upsert(withID("u1"), "", "auto", "", oneRow(1, 10), 1); return err }()},
		{"other expression", func() error { _, err := e.Delete(withID("d1"), "", "c", "", "id in [2]"); return err }()},
	} {
		if !errors.Is(tc.err, ErrRequestIDReused) || !errors.Is(tc.err, merr.ErrParameterInvalid) {
			t.Errorf("%s: err = %v, want ErrRequestIDReused", tc.name, tc.err)
		}
	}
	for _, id := range []string{"has space", "x/y", string(make([]byte, MaxRequestIDLen+1))} {
		if _, err := e.Upsert(withID(id), "", "c", "", oneRow(5, 1), 1); !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("id %q: err = %v, want invalid parameter", id, err)
		}
	}
	if e.LastLSN() != lsn || ageOf(t, e, "c", 1) != 30 || ageOf(t, e, "c", 5) != -1 {
		t.Fatalf("a refused write changed the state (lsn %d -> %d)", lsn, e.LastLSN())
	}
	if err := ValidateRequestID("0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
}

// TestRequestTableReplayCheckpointStandby: the request table is rebuilt by
// WAL replay, persisted by checkpoints and rebuilt on a standby applying
// the same records, with equal digests everywhere; a new active (the
// standby) answers a known id with the original result.
func TestRequestTableReplayCheckpointStandby(t *testing.T) {
	dirA := t.TempDir()
	a := openTest(t, dirA, nil)
	setupColl(t, a, "c", 4, "L2", false, false, false)
	for i := range 20 {
		if _, err := a.Upsert(withID(fmt.Sprintf("w%d", i)), "", "c", "", oneRow(int64(i%5), int64(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.Delete(withID("del"), "", "c", "", "id in [0, 1]"); err != nil || n != 2 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if _, err := a.Upsert(bg, "", "c", "", oneRow(0, 100), 1); err != nil {
		t.Fatal(err)
	}
	want := mustDigest(t, a)
	lsn := a.LastLSN()

	// The standby applies the same records.
	var recs []wal.Record
	if err := a.IterateWAL(1, func(r wal.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	b := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 7 })
	defer b.Close()
	for _, r := range recs {
		if err := b.ApplyRecord(r); err != nil {
			t.Fatalf("apply lsn %d: %v", r.LSN, err)
		}
	}
	if err := b.WaitDurable(bg, lsn); err != nil {
		t.Fatal(err)
	}
	if got := mustDigest(t, b); got != want {
		t.Fatal("standby digest differs")
	}
	// The request table is in the digest: without it the digests differ.
	a.mu.Lock()
	saved := a.cat.requests
	a.cat.requests = nil
	a.mu.Unlock()
	if mustDigest(t, a) == want {
		t.Fatal("the digest does not cover the request table")
	}
	a.mu.Lock()
	a.cat.requests = saved
	a.mu.Unlock()
	// The standby, promoted, deduplicates the active's writes.
	if n, err := b.Delete(withID("del"), "", "c", "", "id in [0, 1]"); err != nil || n != 2 || b.LastLSN() != lsn || ageOf(t, b, "c", 0) != 100 {
		t.Fatalf("re-sent delete on the standby: %d %v lsn %d->%d age %d", n, err, lsn, b.LastLSN(), ageOf(t, b, "c", 0))
	}

	check := func(e *Engine, when string) {
		t.Helper()
		if got := mustDigest(t, e); got != want {
			t.Fatalf("%s: digest differs", when)
		}
		if _, err := e.Upsert(withID("w3"), "", "c", "", oneRow(3, 3), 1); err != nil || e.LastLSN() != lsn {
			t.Fatalf("%s: re-sent upsert: %v, lsn %d -> %d", when, err, lsn, e.LastLSN())
		}
		if _, err := e.Upsert(withID("w3"), "", "c", "", oneRow(3, 4), 1); !errors.Is(err, ErrRequestIDReused) {
			t.Fatalf("%s: reused id: %v", when, err)
		}
	}
	// Replay from the WAL.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openTest(t, dirA, nil)
	check(a, "after replay")
	// From a checkpoint (the WAL before it truncated).
	if err := a.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openTest(t, dirA, nil)
	defer a.Close()
	check(a, "after checkpoint")
}

// TestRequestTableBound: the table keeps the last reqTableSize ids, oldest
// evicted first, the same after a checkpoint; a forgotten id is applied
// again.
func TestRequestTableBound(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	e.reqTableSize = 3
	setupColl(t, e, "c", 4, "L2", false, false, false)
	for i := range 5 {
		if _, err := e.Upsert(withID(fmt.Sprintf("w%d", i)), "", "c", "", oneRow(int64(i), 1), 1); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	e.cat.requests.each(func(r *reqEntry) { ids = append(ids, r.id) })
	if fmt.Sprint(ids) != "[w2 w3 w4]" {
		t.Fatalf("table %v, want [w2 w3 w4]", ids)
	}
	lsn := e.LastLSN()
	if _, err := e.Upsert(withID("w4"), "", "c", "", oneRow(4, 1), 1); err != nil || e.LastLSN() != lsn {
		t.Fatalf("known id: %v lsn %d -> %d", err, lsn, e.LastLSN())
	}
	if _, err := e.Upsert(withID("w0"), "", "c", "", oneRow(0, 1), 1); err != nil || e.LastLSN() != lsn+1 {
		t.Fatalf("forgotten id: %v lsn %d -> %d, want applied again", err, lsn, e.LastLSN())
	}
	want := mustDigest(t, e)
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	ids = nil
	e.cat.requests.each(func(r *reqEntry) { ids = append(ids, r.id) })
	if fmt.Sprint(ids) != "[w3 w4 w0]" || mustDigest(t, e) != want {
		t.Fatalf("after checkpoint: table %v, digest equal %v", ids, mustDigest(t, e) == want)
	}
}

// TestRecordVersions: untagged records keep version 1 (old logs decode as
// before); a tagged record is version 2 with the tag after the body; only
// write records may be tagged.
func TestRecordVersions(t *testing.T) {
	tag := &reqTag{id: "r-1", fp: [16]byte{1, 2, 3}}
	plain, err := encodeRecord(&recDelete{collID: 5, ints: []int64{7}}, 0)
	if err != nil || plain[0] != recordVersion {
		t.Fatalf("untagged: %v %v", plain, err)
	}
	tagged, err := encodeRecord(&recDelete{collID: 5, ints: []int64{7}, req: tag}, 0)
	if err != nil || tagged[0] != recordVersionTagged {
		t.Fatalf("tagged: %v %v", tagged, err)
	}
	for _, p := range [][]byte{plain, tagged} {
		body, err := decodeRecord(RecDelete, p)
		if err != nil {
			t.Fatal(err)
		}
		d := body.(*recDelete)
		if d.collID != 5 || fmt.Sprint(d.ints) != "[7]" {
			t.Fatalf("decoded %+v", d)
		}
		if (p[0] == recordVersionTagged) != (d.req != nil) || (d.req != nil && *d.req != *tag) {
			t.Fatalf("decoded tag %+v from version %d", d.req, p[0])
		}
	}
	if _, err := decodeRecord(RecDropCollection, append([]byte{recordVersionTagged}, plain[1:9]...)); err == nil {
		t.Fatal("a tagged drop-collection record decoded")
	}
}

// BenchmarkInsert768RequestID: the cost of a request id (fingerprint,
// tag, table entry) on 1000-row inserts of 768-dim vectors without
// waiting for fsync.
func BenchmarkInsert768RequestID(b *testing.B) {
	const dim, per = 768, 1000
	for _, withID := range []bool{false, true} {
		b.Run(fmt.Sprintf("id=%v", withID), func(b *testing.B) {
			e := openTest(b, b.TempDir(), func(c *Config) { c.SegmentMaxRows = 0; c.Sync = SyncInterval })
			defer e.Close()
			if err := e.CreateCollection(bg, "", vecSchema("ins", dim), CreateCollectionOptions{}); err != nil {
				b.Fatal(err)
			}
			fds := vecBatch(rand.New(rand.NewSource(1)), 0, per, dim)
			ids := fds[0].GetScalars().GetLongData().GetData()
			b.SetBytes(per * dim * 4)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range ids {
					ids[j] = int64(i*per + j)
				}
				ctx := bg
				if withID {
					ctx = WithRequestID(bg, fmt.Sprintf("bench-%d", i))
				}
				if _, err := e.Insert(ctx, "", "ins", "", fds, per); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
