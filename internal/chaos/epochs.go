package chaos

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/localgroup"
)

// WriteWindow is a span of time in which a node had writes open at an
// epoch, as its log shows: from its "writes open" line to the first of
// "writes closed", a role change away from active, or the end of its
// process.
type WriteWindow struct {
	Node        string
	Epoch       uint64
	Open, Close time.Time
	CloseWhy    string
}

func (w WriteWindow) String() string {
	return fmt.Sprintf("%s@%d [%s, %s] (%s)", w.Node, w.Epoch, w.Open.Format("15:04:05.000"), w.Close.Format("15:04:05.000"), w.CloseWhy)
}

var (
	writesOpenRe   = regexp.MustCompile(`msg="writes open".* epoch=(\d+)`)
	writesClosedRe = regexp.MustCompile(`msg="writes closed"`)
	roleChangeRe   = regexp.MustCompile(`msg="role change".* from=active `)
	procMarkRe     = regexp.MustCompile(`^### (\S+): (.*)$`)
)

// ParseWriteWindows reads node's log (localgroup's NAME.log: the child's
// slog lines between "### <time>: <command>" and "### <time>: exited"
// markers, one pair per process) and returns its write windows. A window
// still open at the end of the log closes at end.
func ParseWriteWindows(node, path string, end time.Time) ([]WriteWindow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []WriteWindow
	var cur *WriteWindow
	closeAt := func(t time.Time, why string) {
		if cur != nil {
			cur.Close, cur.CloseWhy = t, why
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := procMarkRe.FindStringSubmatch(line); m != nil {
			t, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				continue
			}
			if strings.HasPrefix(m[2], "exited") {
				closeAt(t, "process exited")
			} else {
				closeAt(t, "process restarted")
			}
			continue
		}
		t, ok := localgroup.LogTime(line)
		if !ok {
			continue
		}
		switch {
		case writesOpenRe.MatchString(line):
			e, _ := strconv.ParseUint(writesOpenRe.FindStringSubmatch(line)[1], 10, 64)
			closeAt(t, "reopened")
			cur = &WriteWindow{Node: node, Epoch: e, Open: t}
		case writesClosedRe.MatchString(line):
			closeAt(t, "writes closed")
		case roleChangeRe.MatchString(line):
			closeAt(t, "role change")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	closeAt(end, "end of run")
	return out, nil
}

// Pause is a SIGSTOP..SIGCONT span of a node.
type Pause struct {
	Node     string
	From, To time.Time
}

// ClipPauses accounts for pauses: a frozen process acknowledges nothing,
// and once it has been frozen past fenceAfter (the lease TTL minus the
// fence margin: its write gate's deadline is at most that long after its
// last renewal, which it sent before the pause) its gate is closed when it
// wakes, whatever its log says a moment later. A window that contains
// such a pause ends at the pause's start plus fenceAfter (or at the
// pause's start, if that is later than its logged close); a shorter pause
// splits it.
func ClipPauses(ws []WriteWindow, pauses []Pause, fenceAfter time.Duration) []WriteWindow {
	var out []WriteWindow
	for _, w := range ws {
		parts := []WriteWindow{w}
		for _, p := range pauses {
			if p.Node != w.Node {
				continue
			}
			var next []WriteWindow
			for _, x := range parts {
				if !p.From.Before(x.Close) || !p.To.After(x.Open) {
					next = append(next, x)
					continue
				}
				// Before the pause.
				if p.From.After(x.Open) {
					y := x
					y.Close, y.CloseWhy = p.From, "paused"
					next = append(next, y)
				}
				// After it, unless the gate's deadline passed during it.
				if p.To.Sub(p.From) < fenceAfter && p.To.Before(x.Close) {
					y := x
					y.Open = p.To
					next = append(next, y)
				}
			}
			parts = next
		}
		out = append(out, parts...)
	}
	return out
}

// SplitBrain checks write windows of all nodes: no epoch is opened by two
// nodes, no two nodes have writes open at overlapping times, and a node
// never opens writes at an epoch below one another node opened before it.
// It returns one line per violation.
func SplitBrain(ws []WriteWindow) []string {
	var bad []string
	byEpoch := map[uint64]string{}
	for _, w := range ws {
		if n, ok := byEpoch[w.Epoch]; ok && n != w.Node {
			bad = append(bad, fmt.Sprintf("epoch %d opened by two nodes: %s and %s", w.Epoch, n, w.Node))
		}
		byEpoch[w.Epoch] = w.Node
	}
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b WriteWindow) int { return a.Open.Compare(b.Open) })
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if !s[j].Open.Before(s[i].Close) {
				break
			}
			if s[i].Node != s[j].Node {
				ov := minTime(s[i].Close, s[j].Close).Sub(s[j].Open)
				bad = append(bad, fmt.Sprintf("writes open on two nodes at once for %v: %s and %s", ov, s[i], s[j]))
			}
		}
	}
	var maxEpoch uint64
	var maxNode string
	for _, w := range s {
		if w.Epoch < maxEpoch && w.Node != maxNode {
			bad = append(bad, fmt.Sprintf("epoch went back: %s opened after %s had opened epoch %d", w, maxNode, maxEpoch))
		}
		if w.Epoch > maxEpoch {
			maxEpoch, maxNode = w.Epoch, w.Node
		}
	}
	return bad
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
