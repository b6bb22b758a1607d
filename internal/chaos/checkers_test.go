package chaos

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/wal"
)

func w(client int, key, v int64, inv, comp int64, outcome string) Op {
	return Op{Client: client, Kind: KindWrite, Key: key, Value: v, Invoke: inv, Complete: comp, Outcome: outcome}
}

func rd(client int, key, v int64, inv, comp int64, outcome string) Op {
	return Op{Client: client, Kind: KindRead, Key: key, Value: v, Rows: 1, Invoke: inv, Complete: comp, Outcome: outcome}
}

func checkOne(t *testing.T, ops []Op) *RegisterResult {
	t.Helper()
	res := CheckRegisters(ops, 5*time.Second, "")
	if len(res) != 1 {
		t.Fatalf("%d phases", len(res))
	}
	return res[0]
}

func TestRegisterLinearizable(t *testing.T) {
	ops := []Op{
		rd(0, 1, 0, 0, 5, OK), // initial: absent
		w(0, 1, 10, 10, 20, OK),
		rd(1, 1, 10, 15, 25, OK), // concurrent with the write: may see it
		rd(1, 1, 10, 30, 40, OK),
		w(1, 1, 11, 50, 60, OK),
		rd(0, 1, 11, 70, 80, OK),
		rd(2, 1, 99, 70, 80, Fail), // a failed read is ignored
		w(0, 2, 5, 0, 10, OK),      // another key
		rd(1, 2, 5, 20, 30, OK),
	}
	r := checkOne(t, ops)
	if r.Violations != 0 || r.Keys != 2 || r.Ops != 9 || r.FailedReads != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestRegisterStaleRead(t *testing.T) {
	ops := []Op{
		w(0, 1, 10, 0, 10, OK),
		w(0, 1, 11, 20, 30, OK),
		rd(1, 1, 10, 40, 50, OK), // stale: 11 was acknowledged before the read began
	}
	r := checkOne(t, ops)
	if r.Violations != 1 || !slices.Equal(r.BadKeys, []int64{1}) {
		t.Fatalf("%+v", r)
	}
}

func TestRegisterLostWrite(t *testing.T) {
	ops := []Op{
		w(0, 1, 10, 0, 10, OK),
		rd(1, 1, 0, 20, 30, OK), // an acknowledged write vanished
	}
	if r := checkOne(t, ops); r.Violations != 1 {
		t.Fatalf("%+v", r)
	}
}

// An indeterminate write may take effect at any time after its
// invocation, even long after the client gave up on it.
func TestRegisterIndeterminateWrite(t *testing.T) {
	ops := []Op{
		w(0, 1, 10, 0, 10, OK),
		w(1, 1, 12, 15, 16, Info),
		rd(2, 1, 10, 20, 30, OK),
		rd(2, 1, 12, 100, 110, OK), // the timed-out write applied late
	}
	if r := checkOne(t, ops); r.Violations != 0 || r.Indeterminate != 1 {
		t.Fatalf("%+v", r)
	}
	// But once seen it cannot be unseen.
	ops = append(ops, rd(2, 1, 10, 120, 130, OK))
	if r := checkOne(t, ops); r.Violations != 1 {
		t.Fatalf("%+v", r)
	}
	// And a write never invoked before a read cannot explain it.
	ops = []Op{
		rd(2, 1, 12, 0, 10, OK),
		w(1, 1, 12, 20, 30, Info),
	}
	if r := checkOne(t, ops); r.Violations != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestRegisterDuplicateRows(t *testing.T) {
	op := rd(0, 1, 0, 0, 10, OK)
	op.Rows = 2
	if r := checkOne(t, []Op{op}); r.Violations != 1 || len(r.Problems) == 0 {
		t.Fatalf("%+v", r)
	}
}

func TestRegisterPhasesAndVisualization(t *testing.T) {
	ops := []Op{
		w(0, RegKey(0, 0), 10, 0, 10, OK),
		w(0, RegKey(1, 0), 10, 20, 30, OK),
		rd(1, RegKey(1, 0), 0, 40, 50, OK),
	}
	ops[0].Phase, ops[1].Phase, ops[2].Phase = 0, 1, 1
	dir := t.TempDir()
	res := CheckRegisters(ops, 5*time.Second, dir)
	if res[0].Violations != 0 || res[1].Violations != 1 {
		t.Fatalf("phase 0 %+v, phase 1 %+v", res[0], res[1])
	}
	if len(res[1].Visualizations) != 1 {
		t.Fatalf("no visualization: %+v", res[1])
	}
	if _, err := os.Stat(res[1].Visualizations[0]); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSet(t *testing.T) {
	ops := []Op{
		{Kind: KindInsert, IDs: []int64{1, 2}, Outcome: OK, Phase: 0},
		{Kind: KindInsert, IDs: []int64{3}, Outcome: Info, Phase: 1},
		{Kind: KindInsert, IDs: []int64{4}, Outcome: Info, Phase: 1},
		{Kind: KindInsert, IDs: []int64{5, 6}, Outcome: OK, Phase: 1},
		{Kind: KindWrite, Key: 7, Outcome: OK},
	}
	present := map[int64]bool{1: true, 2: true, 3: true, 6: true, 99: true}
	res, phantoms := CheckSet(ops, present)
	if r := res[0]; r.Acked != 2 || len(r.Lost) != 0 || r.Inserts != 1 {
		t.Fatalf("phase 0 %+v", r)
	}
	if r := res[1]; r.Acked != 2 || !slices.Equal(r.Lost, []int64{5}) || r.Indeterminate != 2 || r.IndeterminatePresent != 1 {
		t.Fatalf("phase 1 %+v", r)
	}
	if !slices.Equal(phantoms, []int64{99}) {
		t.Fatalf("phantoms %v", phantoms)
	}
}

func TestCheckSearches(t *testing.T) {
	ops := []Op{
		{Kind: KindSearch, IDs: []int64{5}, Value: 5, Outcome: OK},
		{Kind: KindSearch, IDs: []int64{6}, Value: -1, Outcome: OK},
		{Kind: KindSearch, IDs: []int64{7}, Value: -1, Outcome: Fail},
	}
	r := CheckSearches(ops)[0]
	if r.OK != 1 || r.Failed != 1 || len(r.Misses) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestMaxUnavailability(t *testing.T) {
	ms := func(d int64) int64 { return d * int64(time.Millisecond) }
	ops := []Op{
		{Kind: KindWrite, Outcome: OK, Complete: ms(100)},
		{Kind: KindInsert, Outcome: OK, Complete: ms(200)},
		{Kind: KindRead, Outcome: OK, Complete: ms(500)}, // reads do not count
		{Kind: KindWrite, Outcome: Info, Complete: ms(600)},
		{Kind: KindWrite, Outcome: OK, Complete: ms(1200)},
		{Kind: KindInsert, Outcome: OK, Complete: ms(1300)},
	}
	// The fault at 250ms: writes succeed again at 1200ms, 1000ms after the
	// last success.
	if got := maxUnavailability(ops, ms(250), ms(2000)); got != time.Second {
		t.Fatalf("got %v", got)
	}
	// The gap belongs to the phase where writes resume, not the one before.
	if got := maxUnavailability(ops, ms(0), ms(250)); got != 100*time.Millisecond {
		t.Fatalf("got %v", got)
	}
	// A phase that ends without a success counts up to its end.
	if got := maxUnavailability(ops, ms(1300), ms(1800)); got != 500*time.Millisecond {
		t.Fatalf("got %v", got)
	}
}

func TestNemesisPlan(t *testing.T) {
	ttl := 2 * time.Second
	a := Plan(7, nil, ttl, 2*len(AllFaults))
	b := Plan(7, nil, ttl, 2*len(AllFaults))
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different plans")
	}
	if c := Plan(8, nil, ttl, len(AllFaults)); slices.Equal(a[:len(AllFaults)], c) {
		t.Fatal("different seeds gave the same plan")
	}
	for round := 0; round < 2; round++ {
		var kinds []string
		for _, f := range a[round*len(AllFaults) : (round+1)*len(AllFaults)] {
			kinds = append(kinds, f.Kind)
			if (f.Kind == PauseActive || f.Kind == PartitionActiveArbiter || f.Kind == IsolateActive) && f.Hold <= ttl {
				t.Fatalf("%s held %v, not longer than the lease TTL", f.Kind, f.Hold)
			}
			if f.Hold < 0 || f.Quiet <= 0 {
				t.Fatalf("bad times %v", f)
			}
		}
		slices.Sort(kinds)
		want := slices.Clone(AllFaults)
		slices.Sort(want)
		if !slices.Equal(kinds, want) {
			t.Fatalf("round %d kinds %v", round, kinds)
		}
	}
	sub := Plan(1, FailoverFaults, ttl, 3)
	for _, f := range sub {
		if !slices.Contains(FailoverFaults, f.Kind) {
			t.Fatalf("kind %s not asked for", f.Kind)
		}
	}
}

const sampleLog = `### 2025-01-01T10:00:00.000000000Z: /bin/tandem node --node-id n1
time=2025-01-01T10:00:00.100Z level=INFO msg="tandem node serving" node=n1
time=2025-01-01T10:00:01.000Z level=INFO msg="writes open" node=n1 epoch=1
time=2025-01-01T10:00:05.000Z level=INFO msg="role change" node=n1 from=active to=fenced epoch=1
time=2025-01-01T10:00:05.001Z level=INFO msg="writes closed" node=n1 epoch=1
time=2025-01-01T10:00:09.000Z level=INFO msg="writes open" node=n1 epoch=3
### 2025-01-01T10:00:12.000000000Z: exited: signal: killed
### 2025-01-01T10:00:13.000000000Z: /bin/tandem node --node-id n1
time=2025-01-01T10:00:20.000Z level=INFO msg="writes open" node=n1 epoch=5
`

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, "2025-01-01T"+s+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseWriteWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n1.log")
	os.WriteFile(path, []byte(sampleLog), 0o644)
	ws, err := ParseWriteWindows("n1", path, at("10:01:00"))
	if err != nil {
		t.Fatal(err)
	}
	want := []WriteWindow{
		{Node: "n1", Epoch: 1, Open: at("10:00:01"), Close: at("10:00:05"), CloseWhy: "role change"},
		{Node: "n1", Epoch: 3, Open: at("10:00:09"), Close: at("10:00:12"), CloseWhy: "process exited"},
		{Node: "n1", Epoch: 5, Open: at("10:00:20"), Close: at("10:01:00"), CloseWhy: "end of run"},
	}
	if len(ws) != len(want) {
		t.Fatalf("got %v", ws)
	}
	for i := range ws {
		if !ws[i].Open.Equal(want[i].Open) || !ws[i].Close.Equal(want[i].Close) || ws[i].Epoch != want[i].Epoch || ws[i].CloseWhy != want[i].CloseWhy {
			t.Fatalf("window %d: got %v, want %v", i, ws[i], want[i])
		}
	}
}

func TestSplitBrain(t *testing.T) {
	ok := []WriteWindow{
		{Node: "n1", Epoch: 1, Open: at("10:00:01"), Close: at("10:00:05")},
		{Node: "n2", Epoch: 2, Open: at("10:00:06"), Close: at("10:00:08")},
		{Node: "n2", Epoch: 2, Open: at("10:00:08.5"), Close: at("10:00:09")}, // reopened after a fence
		{Node: "n1", Epoch: 3, Open: at("10:00:10"), Close: at("10:00:12")},
	}
	if bad := SplitBrain(ok); len(bad) != 0 {
		t.Fatalf("%v", bad)
	}
	overlap := append(slices.Clone(ok), WriteWindow{Node: "n3", Epoch: 4, Open: at("10:00:11"), Close: at("10:00:13")})
	if bad := SplitBrain(overlap); len(bad) != 1 || !strings.Contains(bad[0], "two nodes at once") {
		t.Fatalf("%v", bad)
	}
	sameEpoch := append(slices.Clone(ok), WriteWindow{Node: "n3", Epoch: 3, Open: at("10:00:20"), Close: at("10:00:21")})
	if bad := SplitBrain(sameEpoch); len(bad) != 1 || !strings.Contains(bad[0], "epoch 3 opened by two nodes") {
		t.Fatalf("%v", bad)
	}
	back := append(slices.Clone(ok), WriteWindow{Node: "n3", Epoch: 2, Open: at("10:00:20"), Close: at("10:00:21")})
	if bad := SplitBrain(back); len(bad) != 2 { // epoch 2 on two nodes, and it went back
		t.Fatalf("%v", bad)
	}
}

func TestClipPauses(t *testing.T) {
	fence := 1500 * time.Millisecond
	ws := []WriteWindow{
		{Node: "n1", Epoch: 1, Open: at("10:00:01"), Close: at("10:00:10")},
		{Node: "n2", Epoch: 2, Open: at("10:00:07"), Close: at("10:00:20")},
	}
	// n1 frozen 10:00:05..10:00:09.9 (longer than fenceAfter): its window
	// ends at the pause, whatever its log said after it woke.
	got := ClipPauses(ws, []Pause{{Node: "n1", From: at("10:00:05"), To: at("10:00:09.9")}}, fence)
	if len(got) != 2 || !got[0].Close.Equal(at("10:00:05")) {
		t.Fatalf("%v", got)
	}
	if bad := SplitBrain(got); len(bad) != 0 {
		t.Fatalf("%v", bad)
	}
	// A short pause splits the window.
	got = ClipPauses(ws[:1], []Pause{{Node: "n1", From: at("10:00:02"), To: at("10:00:03")}}, fence)
	if len(got) != 2 || !got[0].Close.Equal(at("10:00:02")) || !got[1].Open.Equal(at("10:00:03")) || !got[1].Close.Equal(at("10:00:10")) {
		t.Fatalf("%v", got)
	}
}

func TestFindInDiverged(t *testing.T) {
	dir := t.TempDir()
	dd := filepath.Join(dir, "n1", "diverged")
	os.MkdirAll(dd, 0o755)
	id1, id2, id3 := SetID(3, 7), SetID(3, 8), SetID(4, 1)
	payload := []byte{1, 2, 3}
	payload = binary.LittleEndian.AppendUint64(payload, uint64(id1))
	payload = binary.LittleEndian.AppendUint64(payload, uint64(id2))
	fw, err := wal.CreateFile(filepath.Join(dd, "cut.wal"), 11)
	if err != nil {
		t.Fatal(err)
	}
	fw.Append(wal.Record{Epoch: 2, LSN: 11, Type: engine.RecEpochStart, Payload: binary.LittleEndian.AppendUint64(nil, uint64(id3))})
	fw.Append(wal.Record{Epoch: 2, LSN: 12, Type: engine.RecInsert, Payload: payload})
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dd, "cut.json"), []byte(`{"cut_after": 10, "first_lsn": 11, "last_lsn": 12, "records": 2, "saved": 2, "file": "cut.wal"}`), 0o644)
	hits, cuts, err := FindInDiverged(map[string]string{"n1": filepath.Join(dir, "n1"), "n2": filepath.Join(dir, "n2")}, []int64{id1, id2, id3})
	if err != nil {
		t.Fatal(err)
	}
	if len(cuts) != 1 || cuts[0].CutAfter != 10 || cuts[0].Node != "n1" {
		t.Fatalf("cuts %+v", cuts)
	}
	for _, id := range []int64{id1, id2} {
		h, ok := hits[id]
		if !ok || h.LSN != 12 || !h.InWindow || h.Node != "n1" {
			t.Fatalf("id %d: %+v %v", id, h, ok)
		}
	}
	if _, ok := hits[id3]; ok {
		t.Fatal("found a row in a record that is not an insert")
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	h := NewHistory()
	h.Add(Op{Client: 1, Kind: KindWrite, Key: 3, Value: 9, Invoke: 20, Complete: 30, Outcome: OK})
	h.Add(Op{Client: 0, Kind: KindInsert, IDs: []int64{1, 2}, Invoke: 10, Complete: 40, Outcome: Info, Err: "timeout"})
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := WriteOps(path, h.Ops()); err != nil {
		t.Fatal(err)
	}
	ops, err := ReadOps(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Kind != KindInsert || ops[1].Value != 9 || fmt.Sprint(ops[0].IDs) != "[1 2]" {
		t.Fatalf("%+v", ops)
	}
}

func TestNemesisOverlap(t *testing.T) {
	n := NewNemesis(9, nil, 2*time.Second)
	n.Overlap = true
	also := 0
	for i := 0; i < 90; i++ {
		f := n.Next()
		if f.Also == nil {
			continue
		}
		also++
		if f.Kind == RestartAll || !slices.Contains(overlapKinds, f.Also.Kind) || f.Also.Quiet < 0 || f.Also.Quiet > f.Hold/2 {
			t.Fatalf("bad overlap %v", f)
		}
	}
	if also < 10 || also > 50 {
		t.Fatalf("%d overlaps in 90 faults", also)
	}
}
