package engine

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-db/tandem/internal/wal"
)

// DefaultRecentLogBytes is the default Config.RecentLogBytes.
const DefaultRecentLogBytes = 64 << 20

// recentLog keeps the most recently committed records (as written to the
// WAL: epoch, LSN, type and the payload itself) in memory, up to a bound
// on their payload bytes, so replication senders tailing the log read
// them from here instead of from the WAL files (LogReader). Records are
// added in LSN order under writeMu, before applied moves past them; the
// payloads are never modified afterwards. Records are kept only while a
// LogReader is open (a standby is connected): a node without standbys
// holds no extra memory.
type recentLog struct {
	readers atomic.Int64 // open LogReaders
	mu      sync.RWMutex
	max     int64        // bound on bytes; <= 0 keeps nothing
	recs    []wal.Record // recs[head:] are dense LSNs, oldest first
	head    int
	bytes   int64 // payload bytes of recs[head:]
	// evicted counts records dropped for the bound (tests, metrics).
	evicted uint64
}

// recentOverhead is added to each record's payload size for the bound.
const recentOverhead = 64

// add appends r (its LSN must follow the last one kept; otherwise the
// ring restarts at r) and evicts the oldest records beyond the bound.
func (rl *recentLog) add(r wal.Record) {
	if rl.max <= 0 {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.readers.Load() == 0 {
		if len(rl.recs) > 0 {
			rl.resetLocked()
			rl.recs = nil
		}
		return
	}
	if n := len(rl.recs); n > rl.head && rl.recs[n-1].LSN+1 != r.LSN {
		rl.resetLocked()
	}
	rl.recs = append(rl.recs, r)
	rl.bytes += int64(len(r.Payload)) + recentOverhead
	for rl.bytes > rl.max && rl.head < len(rl.recs) {
		rl.bytes -= int64(len(rl.recs[rl.head].Payload)) + recentOverhead
		rl.recs[rl.head] = wal.Record{}
		rl.head++
		rl.evicted++
	}
	if rl.head > 32 && rl.head >= len(rl.recs)/2 {
		n := copy(rl.recs, rl.recs[rl.head:])
		clear(rl.recs[n:])
		rl.recs, rl.head = rl.recs[:n], 0
	}
}

// reset drops every record (the log was cut or replaced).
func (rl *recentLog) reset() {
	rl.mu.Lock()
	rl.resetLocked()
	rl.mu.Unlock()
}

func (rl *recentLog) resetLocked() {
	clear(rl.recs)
	rl.recs, rl.head, rl.bytes = rl.recs[:0], 0, 0
}

// span returns the first and last LSN kept (0, 0 when empty).
func (rl *recentLog) span() (first, last uint64) {
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	if rl.head == len(rl.recs) {
		return 0, 0
	}
	return rl.recs[rl.head].LSN, rl.recs[len(rl.recs)-1].LSN
}

// read appends the records from from up to last, stopping once maxBytes
// of payload are appended (at least one record). ok is false if from is
// not kept (older than the oldest record, or nothing kept).
func (rl *recentLog) read(dst []wal.Record, from, last uint64, maxBytes int64) (_ []wal.Record, ok bool) {
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	if rl.head == len(rl.recs) {
		return dst, false
	}
	first := rl.recs[rl.head].LSN
	end := rl.recs[len(rl.recs)-1].LSN
	if from < first || from > end+1 {
		return dst, false
	}
	var got int64
	for lsn := from; lsn <= min(last, end); lsn++ {
		if got >= maxBytes && got > 0 {
			break
		}
		r := rl.recs[rl.head+int(lsn-first)]
		dst = append(dst, r)
		got += int64(len(r.Payload))
	}
	return dst, true
}

// LogReader reads this node's log from a position on, for a replication
// sender: records still in memory (the most recent Config.RecentLogBytes)
// come from there, older ones from the WAL files through a wal.Reader that
// keeps its place between calls. It returns only applied records. Not
// safe for concurrent use; Close it when done.
type LogReader struct {
	e      *Engine
	next   uint64
	wr     *wal.Reader // nil while reading from memory
	closed bool
	// FromMemory and FromFiles count the records returned from each
	// source.
	FromMemory, FromFiles uint64
}

// NewLogReader returns a reader whose first record is from.
func (e *Engine) NewLogReader(from uint64) *LogReader {
	e.recent.readers.Add(1)
	return &LogReader{e: e, next: max(from, 1)}
}

// Next returns the LSN of the next record Read returns.
func (r *LogReader) Next() uint64 { return r.next }

// Skip moves the reader forward to lsn (the caller got the records before
// it elsewhere); a position at or before the current one is ignored.
func (r *LogReader) Skip(lsn uint64) {
	if lsn <= r.next {
		return
	}
	r.next = lsn
	if r.wr != nil {
		r.wr.Skip(lsn)
	}
}

// Close releases the reader (and the files it holds open). Idempotent.
func (r *LogReader) Close() {
	r.closeFiles()
	if !r.closed {
		r.closed = true
		r.e.recent.readers.Add(-1)
	}
}

// closeFiles closes the WAL reader, if any.
func (r *LogReader) closeFiles() {
	if r.wr != nil {
		r.wr.Close()
		r.wr = nil
	}
}

// Read appends the records from the reader's position on, up to the
// applied LSN and at most up to last, stopping once maxBytes of payload
// are appended (so at least one if any is available). It does not wait
// (see WaitApplied). The payloads may be shared with the engine and other
// readers: they must not be modified. Records that retention removed
// give an error wrapping wal.ErrTruncated (the caller needs a snapshot).
func (r *LogReader) Read(dst []wal.Record, last uint64, maxBytes int64) ([]wal.Record, error) {
	e := r.e
	if err := e.check(); err != nil {
		return dst, err
	}
	last = min(last, e.applied.Load())
	if r.next > last {
		return dst, nil
	}
	n := len(dst)
	if out, ok := e.recent.read(dst, r.next, last, maxBytes); ok {
		if len(out) > n {
			r.closeFiles() // caught up with memory: the files are no longer needed
			r.FromMemory += uint64(len(out) - n)
			r.next = out[len(out)-1].LSN + 1
			return out, nil
		}
	}
	// Older than what memory holds: from the files, up to where memory
	// takes over.
	if first, _ := e.recent.span(); first > r.next {
		last = min(last, first-1)
	}
	if r.wr == nil {
		r.wr = e.wal.NewReader(r.next)
	}
	out, err := r.wr.Read(dst, last, maxBytes)
	if len(out) > n {
		r.FromFiles += uint64(len(out) - n)
		r.next = out[len(out)-1].LSN + 1
	}
	if err != nil {
		if errors.Is(err, wal.ErrClosed) {
			if cerr := e.check(); cerr != nil {
				err = cerr
			}
		}
		r.closeFiles()
		return out, err
	}
	return out, nil
}

// appliedClock remembers when the applied LSN reached each value, for
// replication lag in seconds: a sample per advance, the older half thinned
// (every other sample dropped) when maxAppliedSamples are kept, which can
// only make an old time later (a lag understated), never earlier.
type appliedClock struct {
	mu sync.Mutex
	// floor: samples cover the LSNs in (floor, last sample's lsn]; a
	// sample's time is when applied first reached its lsn or beyond.
	floor   uint64
	samples []appliedSample
}

type appliedSample struct {
	lsn uint64
	at  time.Time
}

const maxAppliedSamples = 8192

// observe records that applied reached lsn at now.
func (c *appliedClock) observe(lsn uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.samples); (n > 0 && c.samples[n-1].lsn >= lsn) || lsn <= c.floor {
		return
	}
	if len(c.samples) >= maxAppliedSamples {
		half := len(c.samples) / 2
		k := 0
		for i := 1; i < half; i += 2 {
			c.samples[k] = c.samples[i]
			k++
		}
		k += copy(c.samples[k:], c.samples[half:])
		c.samples = c.samples[:k]
	}
	c.samples = append(c.samples, appliedSample{lsn: lsn, at: now})
}

// reset forgets every sample: LSNs up to floor have no time.
func (c *appliedClock) reset(floor uint64) {
	c.mu.Lock()
	c.floor, c.samples = floor, c.samples[:0]
	c.mu.Unlock()
}

// at returns when applied first reached lsn; false if lsn was applied
// before the samples (before Open, a snapshot install or a cut), or is
// not applied yet.
func (c *appliedClock) at(lsn uint64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lsn <= c.floor {
		return time.Time{}, false
	}
	i := sort.Search(len(c.samples), func(i int) bool { return c.samples[i].lsn >= lsn })
	if i == len(c.samples) {
		return time.Time{}, false
	}
	return c.samples[i].at, true
}

// AppliedAt returns when this node's applied LSN first reached lsn (the
// record at lsn was applied then, or a little before; the time is taken
// as applied advances). ok is false if lsn is not applied yet, or was
// applied before this engine opened (or before a snapshot install or a
// log cut), or so long ago that its time was thinned away.
func (e *Engine) AppliedAt(lsn uint64) (at time.Time, ok bool) {
	return e.appliedAt.at(lsn)
}

// committed records, under writeMu, that the record r was appended and
// applied: it joins the recent records before applied moves past it (the
// caller stores applied next), and applied's time is taken.
func (e *Engine) committed(r wal.Record) {
	e.recent.add(r)
}

// advanced records the time applied reached lsn (after applied.Store).
func (e *Engine) advanced(lsn uint64) {
	e.appliedAt.observe(lsn, time.Now())
}

// logReplaced forgets the recent records and applied times after the log
// was cut or replaced (the applied LSN is now lsn).
func (e *Engine) logReplaced(lsn uint64) {
	e.recent.reset()
	e.appliedAt.reset(lsn)
}
