package engine

import (
	"errors"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// scriptGate answers Allow from a script: refuseAt[n] makes the n-th call
// (1-based) fail.
type scriptGate struct {
	mu       sync.Mutex
	epoch    uint64
	calls    int
	refuseAt map[int]bool
	refuse   bool
}

func (g *scriptGate) Allow() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.refuse || g.refuseAt[g.calls] {
		return 0, merr.Wrapf(merr.ErrServiceUnavailable, "node n1 is not active")
	}
	return g.epoch, nil
}

func walEpochs(t *testing.T, e *Engine) map[uint64]uint64 {
	t.Helper()
	out := map[uint64]uint64{}
	if err := e.IterateWAL(1, func(r wal.Record) error { out[r.LSN] = r.Epoch; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteGateRefusalChangesNothing(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	before, digest := e.LastLSN(), mustDigest(t, e)
	g := &scriptGate{epoch: 7, refuse: true}
	e.SetWriteGate(g)
	b := genBatch(rand.New(rand.NewSource(1)), seq(1, 3), 4, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3); !errors.Is(err, merr.ErrServiceUnavailable) {
		t.Fatalf("insert: %v", err)
	}
	if _, err := e.Delete(bg, "", "c", "", "id > 0"); !errors.Is(err, merr.ErrServiceUnavailable) {
		t.Fatalf("delete: %v", err)
	}
	if err := e.CreateCollection(bg, "", testSchema("d", 4, false, false, false), CreateCollectionOptions{}); !errors.Is(err, merr.ErrServiceUnavailable) {
		t.Fatalf("create: %v", err)
	}
	for name, err := range map[string]error{
		"drop coll":  e.DropCollection(bg, "", "c"),
		"create par": e.CreatePartition(bg, "", "c", "p"),
		"drop par":   e.DropPartition(bg, "", "c", "p"),
		"create idx": e.CreateIndex(bg, "", "c", "age", "", nil),
		"drop idx":   e.DropIndex(bg, "", "c", "vec", ""),
		"release":    e.ReleaseCollection(bg, "", "c"),
	} {
		if !errors.Is(err, merr.ErrServiceUnavailable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if e.LastLSN() != before || mustDigest(t, e) != digest {
		t.Fatalf("a refused write changed the state: lsn %d -> %d", before, e.LastLSN())
	}
	if err := e.Err(); err != nil {
		t.Fatalf("engine failed: %v", err)
	}
	// Reads still work.
	if _, err := e.CollectionStats("", "c"); err != nil {
		t.Fatal(err)
	}
}

func TestWriteGateStampsEpochAndBypassForEpochStart(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false) // nil gate: Config.Epoch (1)
	if ep, _ := e.Position(); ep != 0 {
		t.Fatalf("position epoch %d before any epoch-start record", ep)
	}
	g := &scriptGate{epoch: 5, refuse: true}
	e.SetWriteGate(g)
	// The promotion writes its epoch-start record while writes are closed.
	lsn, err := e.WriteEpochStart(bg, 5)
	if err != nil {
		t.Fatal(err)
	}
	if ep, l := e.Position(); ep != 5 || l != lsn {
		t.Fatalf("position %d/%d, want 5/%d", ep, l, lsn)
	}
	g.mu.Lock()
	g.refuse = false
	g.mu.Unlock()
	b := genBatch(rand.New(rand.NewSource(1)), seq(1, 3), 4, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	eps := walEpochs(t, e)
	if eps[1] != 1 || eps[lsn] != 5 || eps[lsn+1] != 5 {
		t.Fatalf("epochs %v", eps)
	}
}

func TestWriteGateRefusesAcknowledgement(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	before := e.LastLSN()
	// Calls: 1 admission, 2 stamp, 3 acknowledgement.
	e.SetWriteGate(&scriptGate{epoch: 2, refuseAt: map[int]bool{3: true}})
	b := genBatch(rand.New(rand.NewSource(1)), seq(1, 3), 4, false)
	_, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3)
	if !errors.Is(err, merr.ErrServiceUnavailable) || !strings.Contains(err.Error(), "durable on this node but NOT acknowledged") {
		t.Fatalf("insert: %v", err)
	}
	if e.LastLSN() != before+1 || e.DurableLSN() != before+1 {
		t.Fatalf("lsn %d durable %d, want %d", e.LastLSN(), e.DurableLSN(), before+1)
	}
	// Refused at the append (after admission): nothing written.
	e.SetWriteGate(&scriptGate{epoch: 2, refuseAt: map[int]bool{2: true}})
	if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3); !errors.Is(err, merr.ErrServiceUnavailable) {
		t.Fatalf("insert: %v", err)
	}
	if e.LastLSN() != before+1 || e.Err() != nil {
		t.Fatalf("lsn %d err %v", e.LastLSN(), e.Err())
	}
	// A non-merr refusal is reported as service unavailable.
	e.SetWriteGate(errGate{})
	if err := e.CreatePartition(bg, "", "c", "p"); !errors.Is(err, merr.ErrServiceUnavailable) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("create partition: %v", err)
	}
	e.SetWriteGate(nil)
	if err := e.CreatePartition(bg, "", "c", "p"); err != nil {
		t.Fatal(err)
	}
}

type errGate struct{}

func (errGate) Allow() (uint64, error) { return 0, errors.New("boom") }
