package engine

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// shipSnapshot applies a logical snapshot of src to dst as the change
// stream would.
func shipSnapshot(t *testing.T, src, dst *Engine) uint64 {
	t.Helper()
	ls, err := src.OpenLogicalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	recs := []UpstreamRecord{{Pos: UpstreamPos{Source: "L"}, Type: RecUpstreamReset, Payload: ls.Catalog}}
	if err := ls.Inserts(64, func(p []byte, rows int) error {
		recs = append(recs, UpstreamRecord{Pos: UpstreamPos{Source: "L"}, Type: RecInsert, Payload: p})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, UpstreamRecord{Pos: UpstreamPos{Source: "L", Epoch: 1, LSN: ls.LSN}, Type: RecUpstreamMark})
	if _, err := dst.ApplyUpstream(bg, recs); err != nil {
		t.Fatal(err)
	}
	return ls.LSN
}

// shipWAL applies src's records after from to dst.
func shipWAL(t *testing.T, src, dst *Engine, from uint64) uint64 {
	t.Helper()
	var recs []UpstreamRecord
	last := from
	if err := src.IterateWAL(from+1, func(r wal.Record) error {
		recs = append(recs, UpstreamRecord{Pos: UpstreamPos{Source: "L", Epoch: r.Epoch, LSN: r.LSN}, Type: r.Type, Payload: append([]byte(nil), r.Payload...)})
		last = r.LSN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) > 0 {
		if _, err := dst.ApplyUpstream(bg, recs); err != nil {
			t.Fatal(err)
		}
	}
	return last
}

func dataDigest(t *testing.T, e *Engine) string {
	t.Helper()
	if err := e.WaitDurable(bg, e.LastLSN()); err != nil {
		t.Fatal(err)
	}
	_, d, err := e.DataDigest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestUpstreamSnapshotAndStream(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	adir := t.TempDir()
	a := openTest(t, adir, nil)
	setupColl(t, l, "c", 4, "L2", false, false, true)
	b := genBatch(r, seq(1, 250), 4, false)
	if _, err := l.Insert(bg, "", "c", "", b.fields(4, true, false, true), 250); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Delete(bg, "", "c", "", "id < 20"); err != nil {
		t.Fatal(err)
	}
	pos := shipSnapshot(t, l, a)
	if dataDigest(t, l) != dataDigest(t, a) {
		t.Fatal("digests differ after the snapshot")
	}
	// Live records, including DDL and auto ids.
	setupColl(t, l, "d", 3, "IP", true, false, false)
	setupColl(t, l, "e", 3, "COSINE", false, true, false)
	b2 := genBatch(r, seq(300, 40), 3, true)
	if _, err := l.Insert(bg, "", "d", "", b2.fields(3, true, true, false), 40); err != nil {
		t.Fatal(err)
	}
	b3 := genBatch(r, seq(0, 30), 3, false)
	if _, err := l.Insert(bg, "", "e", "", b3.fields(3, false, false, false), 30); err != nil {
		t.Fatal(err)
	}
	b4 := genBatch(r, seq(100, 50), 4, false)
	if _, err := l.Upsert(bg, "", "c", "", b4.fields(4, true, false, true), 50); err != nil {
		t.Fatal(err)
	}
	pos = shipWAL(t, l, a, pos)
	if dataDigest(t, l) != dataDigest(t, a) {
		t.Fatal("digests differ after streaming")
	}
	if got := a.UpstreamPosition(); got.LSN != pos || got.Source != "L" {
		t.Fatalf("upstream position %+v, want lsn %d", got, pos)
	}
	// Duplicates are refused.
	if shipWALDup(l, a, pos-1); !errors.Is(shipWALDup(l, a, pos-1), ErrUpstreamDuplicate) {
		t.Fatal("duplicate not refused")
	}
	// Read-only refuses client writes, not upstream records.
	a.SetReadOnly(func() error { return merr.Wrapf(merr.ErrOperationNotSupported, "read-only") })
	if _, err := a.Insert(bg, "", "c", "", b4.fields(4, true, false, true), 50); err == nil {
		t.Fatal("write on a read-only engine accepted")
	}
	if _, err := l.Delete(bg, "", "c", "", "id < 40"); err != nil {
		t.Fatal(err)
	}
	pos = shipWAL(t, l, a, pos)
	want := dataDigest(t, l)
	if dataDigest(t, a) != want {
		t.Fatal("digests differ")
	}
	// The position survives a restart (checkpoint: catalog v2) and replay.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openTest(t, adir, nil)
	defer a.Close()
	if got := a.UpstreamPosition(); got.LSN != pos {
		t.Fatalf("after restart: upstream %+v, want %d", got, pos)
	}
	if dataDigest(t, a) != want {
		t.Fatal("digest changed by the restart")
	}
	// A second snapshot replaces the state (rejoin, retention).
	shipSnapshot(t, l, a)
	if dataDigest(t, a) != want {
		t.Fatal("digest differs after a second snapshot")
	}
	v, err := ViewRecord(RecUpstreamReset, EmptyCatalogPayload())
	if err != nil || v.Type != "snapshot_reset" {
		t.Fatalf("view: %+v %v", v, err)
	}
}

func shipWALDup(src, dst *Engine, lsn uint64) error {
	var rec UpstreamRecord
	_ = src.IterateWAL(lsn, func(r wal.Record) error {
		rec = UpstreamRecord{Pos: UpstreamPos{Source: "L", Epoch: r.Epoch, LSN: r.LSN}, Type: r.Type, Payload: r.Payload}
		return errStopIter
	})
	_, err := dst.ApplyUpstream(bg, []UpstreamRecord{rec})
	return err
}
