package engine

import (
	"errors"
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/wal"
)

func TestRecentLogEvicts(t *testing.T) {
	rl := recentLog{max: 10 * (100 + recentOverhead)}
	rl.readers.Add(1)
	for lsn := uint64(1); lsn <= 1000; lsn++ {
		rl.add(wal.Record{LSN: lsn, Payload: make([]byte, 100)})
		first, last := rl.span()
		if last != lsn || last-first+1 != min(lsn, 10) {
			t.Fatalf("after %d: span %d..%d, want the last 10", lsn, first, last)
		}
		if rl.bytes > rl.max {
			t.Fatalf("after %d: %d bytes kept, bound %d", lsn, rl.bytes, rl.max)
		}
		if len(rl.recs) > 80 {
			t.Fatalf("after %d: %d slots, never compacted", lsn, len(rl.recs))
		}
	}
	if rl.evicted != 990 {
		t.Fatalf("evicted %d, want 990", rl.evicted)
	}
	got, ok := rl.read(nil, 995, math.MaxUint64, math.MaxInt64)
	if !ok || len(got) != 6 || got[0].LSN != 995 || got[5].LSN != 1000 {
		t.Fatalf("read(995) = %d records, %v", len(got), ok)
	}
	// maxBytes: stops once reached, at least one record.
	if got, ok := rl.read(nil, 992, math.MaxUint64, 150); !ok || len(got) != 2 {
		t.Fatalf("read(992, 150 bytes) = %d records, want 2", len(got))
	}
	if got, ok := rl.read(nil, 992, 993, 0); !ok || len(got) != 1 {
		t.Fatalf("read(992, 0 bytes) = %d records, want 1", len(got))
	}
	if _, ok := rl.read(nil, 990, math.MaxUint64, math.MaxInt64); ok {
		t.Fatal("read(990): evicted, want !ok")
	}
	// A record larger than the bound is not kept; a gap restarts the ring.
	rl.add(wal.Record{LSN: 1001, Payload: make([]byte, 5000)})
	if first, last := rl.span(); first != 0 || last != 0 {
		t.Fatalf("after a huge record: span %d..%d, want empty", first, last)
	}
	rl.add(wal.Record{LSN: 1002, Payload: []byte{1}})
	rl.add(wal.Record{LSN: 1010, Payload: []byte{2}})
	if first, last := rl.span(); first != 1010 || last != 1010 {
		t.Fatalf("after a gap: span %d..%d, want 1010..1010", first, last)
	}
	off := recentLog{}
	off.readers.Add(1)
	off.add(wal.Record{LSN: 1})
	if _, ok := off.read(nil, 1, 1, 1); ok {
		t.Fatal("a ring with no bound kept a record")
	}
	// Without a reader, nothing is kept (and what was is dropped).
	rl.readers.Add(-1)
	rl.add(wal.Record{LSN: 1011, Payload: []byte{3}})
	if first, last := rl.span(); first != 0 || last != 0 || rl.recs != nil {
		t.Fatalf("no reader: span %d..%d, %d slots", first, last, len(rl.recs))
	}
}

// readAllLog reads everything available from r.
func readAllLog(t *testing.T, r *LogReader, maxBytes int64) []wal.Record {
	t.Helper()
	var out []wal.Record
	for {
		n := len(out)
		var err error
		out, err = r.Read(out, math.MaxUint64, maxBytes)
		if err != nil {
			t.Fatalf("Read at %d: %v", r.Next(), err)
		}
		if len(out) == n {
			return out
		}
	}
}

// TestLogReaderMemoryAndFiles: old records come from the WAL files, recent
// ones from memory, and a reader moves from the one to the other; what it
// returns equals the WAL.
func TestLogReaderMemoryAndFiles(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.RecentLogBytes = 20 << 10; c.WALSegmentBytes = 16 << 10 })
	defer e.Close()
	tail := e.NewLogReader(1) // a reader open: recent records are kept
	defer tail.Close()
	setupColl(t, e, "c", 8, "L2", false, false, false)
	r := rand.New(rand.NewSource(1))
	for i := range 40 {
		if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(i*10, 10), 8, false).fields(8, true, false, false), 10); err != nil {
			t.Fatal(err)
		}
	}
	last := e.LastLSN()
	first, end := e.recent.span()
	if end != last || first <= 1 {
		t.Fatalf("recent span %d..%d, applied %d: want the newest records only", first, end, last)
	}
	want := walRecords(t, e, 1, math.MaxUint64)

	rd := e.NewLogReader(1)
	defer rd.Close()
	got := readAllLog(t, rd, 4<<10)
	sameRecords(t, got, want)
	if rd.FromFiles != first-1 || rd.FromMemory != last-first+1 {
		t.Fatalf("from files %d, from memory %d; want %d, %d", rd.FromFiles, rd.FromMemory, first-1, last-first+1)
	}
	if rd.wr != nil {
		t.Fatal("reader still holds the WAL files after catching up with memory")
	}
	// Tailing: new records come from memory.
	for i := 40; i < 45; i++ {
		if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(i*10, 10), 8, false).fields(8, true, false, false), 10); err != nil {
			t.Fatal(err)
		}
		more := readAllLog(t, rd, 4<<10)
		if len(more) != 1 || more[0].LSN != e.LastLSN() {
			t.Fatalf("tail: got %d records", len(more))
		}
	}
	if rd.FromMemory != e.LastLSN()-first+1 {
		t.Fatalf("tail read %d from memory", rd.FromMemory)
	}
	// A reader left behind (the ring moved on) falls back to the files,
	// resuming at its position; Skip jumps ahead.
	rd2 := e.NewLogReader(3)
	defer rd2.Close()
	got, err := rd2.Read(nil, math.MaxUint64, 1)
	if err != nil || len(got) != 1 || got[0].LSN != 3 {
		t.Fatalf("Read(3) = %d records, %v", len(got), err)
	}
	rd2.Skip(10)
	got, err = rd2.Read(nil, 12, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, want[9:12])
	// Applied bounds what a reader sees; after Close, an error.
	rd3 := e.NewLogReader(e.LastLSN() + 1)
	if got, err := rd3.Read(nil, math.MaxUint64, math.MaxInt64); err != nil || len(got) != 0 {
		t.Fatalf("past applied: %d records, %v", len(got), err)
	}
	// Retention removed records: ErrTruncated.
	if err := e.Checkpoint(bg); err != nil {
		t.Fatal(err)
	}
	if fl := e.FirstWALLSN(); fl > 3 {
		rd4 := e.NewLogReader(2)
		if _, err := rd4.Read(nil, math.MaxUint64, math.MaxInt64); !errors.Is(err, wal.ErrTruncated) {
			t.Fatalf("Read(2) after truncation (first %d): %v, want ErrTruncated", fl, err)
		}
	}
	e.Close()
	if _, err := rd3.Read(nil, math.MaxUint64, math.MaxInt64); err == nil {
		t.Fatal("Read after Close: no error")
	}
}

func TestRecentLogCutAndInstallReset(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	tail := e.NewLogReader(1)
	defer tail.Close()
	setupColl(t, e, "c", 8, "L2", false, false, false)
	r := rand.New(rand.NewSource(2))
	for i := range 5 {
		if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(i*10, 10), 8, false).fields(8, true, false, false), 10); err != nil {
			t.Fatal(err)
		}
	}
	cut := e.LastLSN() - 2
	if _, err := e.CutLog(cut); err != nil {
		t.Fatal(err)
	}
	if first, last := e.recent.span(); first != 0 || last != 0 {
		t.Fatalf("after the cut: recent %d..%d, want empty", first, last)
	}
	if _, ok := e.AppliedAt(cut); ok {
		t.Fatal("AppliedAt(cut point) after the cut: want !ok")
	}
	if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(100, 10), 8, false).fields(8, true, false, false), 10); err != nil {
		t.Fatal(err)
	}
	rd := e.NewLogReader(1)
	defer rd.Close()
	sameRecords(t, readAllLog(t, rd, math.MaxInt64), walRecords(t, e, 1, math.MaxUint64))
	if rd.FromMemory != 1 {
		t.Fatalf("%d records from memory after the cut, want 1", rd.FromMemory)
	}
}

func TestAppliedAt(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 8, "L2", false, false, false)
	before := time.Now()
	lsn0 := e.LastLSN()
	r := rand.New(rand.NewSource(3))
	var times []time.Time
	for i := range 3 {
		if _, err := e.Insert(bg, "", "c", "", genBatch(r, seq(i*10, 10), 8, false).fields(8, true, false, false), 10); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Now())
		time.Sleep(2 * time.Millisecond)
	}
	prev := before
	for i := range 3 {
		at, ok := e.AppliedAt(lsn0 + 1 + uint64(i))
		if !ok || at.Before(prev) || at.After(times[i]) {
			t.Fatalf("AppliedAt(%d) = %v, %v; want within [%v, %v]", lsn0+1+uint64(i), at, ok, prev, times[i])
		}
		prev = at
	}
	if _, ok := e.AppliedAt(e.LastLSN() + 1); ok {
		t.Fatal("AppliedAt(not applied yet): want !ok")
	}
	// After a reopen, records replayed have no time.
	dir := e.DataDir()
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	if _, ok := e.AppliedAt(e.LastLSN()); ok {
		t.Fatal("AppliedAt(replayed lsn): want !ok")
	}
}

func TestAppliedClockThins(t *testing.T) {
	var c appliedClock
	c.reset(10)
	t0 := time.Unix(1000, 0)
	at := func(lsn uint64) time.Time { return t0.Add(time.Duration(lsn) * time.Millisecond) }
	for lsn := uint64(11); lsn <= 10+3*maxAppliedSamples; lsn++ {
		c.observe(lsn, at(lsn))
		c.observe(lsn, at(lsn+5)) // no advance: ignored
	}
	if n := len(c.samples); n > maxAppliedSamples {
		t.Fatalf("%d samples kept, max %d", n, maxAppliedSamples)
	}
	last := uint64(10 + 3*maxAppliedSamples)
	// Recent LSNs are exact; older ones never earlier than the truth.
	for _, lsn := range []uint64{last, last - 100, last - maxAppliedSamples/4} {
		if got, ok := c.at(lsn); !ok || !got.Equal(at(lsn)) {
			t.Fatalf("at(%d) = %v, %v; want exact %v", lsn, got, ok, at(lsn))
		}
	}
	for lsn := uint64(11); lsn < last; lsn += 97 {
		got, ok := c.at(lsn)
		if !ok || got.Before(at(lsn)) {
			t.Fatalf("at(%d) = %v, %v; want >= %v", lsn, got, ok, at(lsn))
		}
	}
	if _, ok := c.at(10); ok {
		t.Fatal("at(floor): want !ok")
	}
}
