package chaos

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// KindDelete is a register delete: delete the row of Key, which makes the
// register absent (0). In the model it is a write of 0.
const KindDelete = "delete"

// regInput is a register operation's input: a write of value (a delete
// writes 0), or a read.
type regInput struct {
	write, delete bool
	value         int64
}

// RegisterModel is the porcupine model of one register (int64, 0 when
// absent): write(v) sets it, delete() sets it to 0, read() returns it.
// Histories are partitioned by key before checking, so the model sees one
// key.
var RegisterModel = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		return output.(int64) == state.(int64), state
	},
	Equal: func(a, b any) bool { return a.(int64) == b.(int64) },
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.delete {
			return "delete()"
		}
		if in.write {
			return fmt.Sprintf("write(%d)", in.value)
		}
		return fmt.Sprintf("read() -> %d", output.(int64))
	},
	DescribeState: func(state any) string { return fmt.Sprint(state.(int64)) },
}

// PorcupineOps converts the register operations on one key to porcupine
// operations: successful writes and reads with their times; failed or
// timed-out writes (Info, Fail: indeterminate, they may have taken effect
// at any time after invocation) with an infinite completion time, as
// porcupine's convention for indeterminate operations; failed reads are
// left out (they have no effect). It also returns how many writes were
// indeterminate and how many reads failed.
func PorcupineOps(ops []Op) (out []porcupine.Operation, indeterminate, failedReads int) {
	for _, op := range ops {
		switch op.Kind {
		case KindWrite, KindDelete:
			ret := op.Complete
			if !op.Ok() {
				ret = math.MaxInt64
				indeterminate++
			}
			in := regInput{write: true, value: op.Value}
			if op.Kind == KindDelete {
				in = regInput{write: true, delete: true}
			}
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: in,
				Call: op.Invoke, Output: int64(0), Return: ret})
		case KindRead:
			if !op.Ok() {
				failedReads++
				continue
			}
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{},
				Call: op.Invoke, Output: op.Value, Return: op.Complete})
		}
	}
	return out, indeterminate, failedReads
}

// RegisterResult is the linearizability check of the registers of one
// phase.
type RegisterResult struct {
	Phase         int
	Keys          int
	Ops           int // register operations (reads and writes, any outcome)
	Indeterminate int // writes that failed or timed out
	FailedReads   int // reads that failed (no effect, left out)
	Violations    int // keys whose history is not linearizable
	Unknown       int // keys whose check timed out
	BadKeys       []int64
	// Problems describes each violation (and any read that returned more
	// than one row for a key).
	Problems []string
	// Visualizations are porcupine's HTML renderings of the bad keys.
	Visualizations []string
}

// CheckRegisters checks the register history in ops (other kinds are
// ignored) key by key with porcupine, bounding each key's check by
// timeout, and sums the results by phase (a key belongs to the phase
// whose operations use it). When vizDir is not "", a visualization of
// every non-linearizable key is written there.
func CheckRegisters(ops []Op, timeout time.Duration, vizDir string) map[int]*RegisterResult {
	byKey := map[int64][]Op{}
	for _, op := range ops {
		if op.Kind == KindWrite || op.Kind == KindDelete || op.Kind == KindRead {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	keys := make([]int64, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	res := map[int]*RegisterResult{}
	for _, k := range keys {
		kops := byKey[k]
		phase := kops[0].Phase
		r := res[phase]
		if r == nil {
			r = &RegisterResult{Phase: phase}
			res[phase] = r
		}
		r.Keys++
		r.Ops += len(kops)
		for _, op := range kops {
			if op.Kind == KindRead && op.Ok() && op.Rows > 1 {
				r.Problems = append(r.Problems, fmt.Sprintf("key %d: a read returned %d rows (client %d at %v)",
					k, op.Rows, op.Client, time.Duration(op.Invoke)))
				if !slices.Contains(r.BadKeys, k) {
					r.BadKeys = append(r.BadKeys, k)
					r.Violations++
				}
			}
		}
		pops, ind, fr := PorcupineOps(kops)
		r.Indeterminate += ind
		r.FailedReads += fr
		var result porcupine.CheckResult
		var info porcupine.LinearizationInfo
		if vizDir != "" {
			result, info = porcupine.CheckOperationsVerbose(RegisterModel, pops, timeout)
		} else {
			result = porcupine.CheckOperationsTimeout(RegisterModel, pops, timeout)
		}
		switch result {
		case porcupine.Illegal:
			if !slices.Contains(r.BadKeys, k) {
				r.BadKeys = append(r.BadKeys, k)
				r.Violations++
			}
			r.Problems = append(r.Problems, fmt.Sprintf("key %d: history of %d operations is not linearizable", k, len(kops)))
			if vizDir != "" {
				path := filepath.Join(vizDir, fmt.Sprintf("register-key-%d.html", k))
				if err := porcupine.VisualizePath(RegisterModel, info, path); err == nil {
					r.Visualizations = append(r.Visualizations, path)
				}
			}
		case porcupine.Unknown:
			r.Unknown++
			r.Problems = append(r.Problems, fmt.Sprintf("key %d: linearizability check timed out after %v (%d operations)", k, timeout, len(kops)))
		}
	}
	return res
}
