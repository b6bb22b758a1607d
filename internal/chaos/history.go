package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Operation kinds in a history.
const (
	// KindWrite is a register write: upsert Key -> Value.
	KindWrite = "write"
	// KindRead is a register read of Key (strong consistency); Value is
	// what it returned (0: no row), Rows how many rows.
	KindRead = "read"
	// KindInsert is an insert of the rows IDs into the append set.
	KindInsert = "insert"
	// KindSearch is an exact search (strong consistency) for the vector of
	// row IDs[0] right after its insert was acknowledged; Value is the id
	// found at distance 0 (-1: none).
	KindSearch = "search"
	// KindFlush is a flush of both collections (not checked).
	KindFlush = "flush"
)

// Outcomes of an operation.
const (
	// OK: the call succeeded.
	OK = "ok"
	// Fail: the call failed and certainly had no effect (reads: any
	// failure; writes: refused before anything was applied — the tests
	// treat every failed write as Info).
	Fail = "fail"
	// Info: the call failed or timed out and may or may not have taken
	// effect (an indeterminate write).
	Info = "info"
)

// Op is one client operation: invoked at Invoke, completed at Complete
// (nanoseconds since the history's start).
type Op struct {
	Client   int     `json:"client"`
	Kind     string  `json:"kind"`
	Key      int64   `json:"key,omitempty"`
	Value    int64   `json:"value,omitempty"`
	Rows     int     `json:"rows,omitempty"`
	IDs      []int64 `json:"ids,omitempty"`
	Invoke   int64   `json:"invoke"`
	Complete int64   `json:"complete"`
	Outcome  string  `json:"outcome"`
	Err      string  `json:"err,omitempty"`
	// Phase is the nemesis phase the operation was invoked in.
	Phase int `json:"phase"`
	// Via is the client's route (proxy1, proxy2, direct).
	Via string `json:"via,omitempty"`
}

// Ok reports whether the operation succeeded.
func (o Op) Ok() bool { return o.Outcome == OK }

// History records operations from concurrent clients.
type History struct {
	Start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts an empty history at now.
func NewHistory() *History { return &History{Start: time.Now()} }

// Now is the history's clock: nanoseconds since Start (monotonic).
func (h *History) Now() int64 { return int64(time.Since(h.Start)) }

// At converts a history time to wall-clock time.
func (h *History) At(t int64) time.Time { return h.Start.Add(time.Duration(t)) }

// Since converts a wall-clock time to history time.
func (h *History) Since(t time.Time) int64 { return int64(t.Sub(h.Start)) }

// Add records a completed operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the operations, in invocation order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	slices.SortStableFunc(ops, func(a, b Op) int {
		switch {
		case a.Invoke < b.Invoke:
			return -1
		case a.Invoke > b.Invoke:
			return 1
		}
		return 0
	})
	return ops
}

// WriteOps writes ops as JSON lines to path.
func WriteOps(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadOps reads a history written by WriteOps (for replaying a check).
func ReadOps(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", path, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}
