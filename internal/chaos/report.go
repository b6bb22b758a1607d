package chaos

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// PhaseRow is the outcome of one phase.
type PhaseRow struct {
	Phase  int
	Kind   string
	Target string
	// Ops are the operations invoked in the phase: OK, Failed (reads and
	// searches that failed: no effect) and Indeterminate (writes and
	// inserts that failed or timed out: may or may not have happened).
	Ops, OK, Failed, Indeterminate int
	// Acked rows inserted in the phase, and how many of them are missing
	// at the end (LostInDiverged of those were found among the records an
	// old active cut from its log, inside the reported window: allowed in
	// async mode).
	Acked, Lost, LostInDiverged int
	// Violations are register keys whose history is not linearizable;
	// Unknown keys whose check timed out.
	Violations, Unknown int
	// SearchMisses are searches that did not find a freshly acknowledged
	// row (SearchMissesLost of them of a row lost in an async failover).
	SearchMisses, SearchMissesLost int
	// MaxUnavail is the longest time without a successful write.
	MaxUnavail   time.Duration
	NotRecovered bool
	Problems     []string
}

// Report is the outcome of a run.
type Report struct {
	Name   string
	Seed   int64
	Mode   string
	Faults []string
	// NodeArgs and FlushEvery are the run's tuning (Config), for the
	// replay line.
	NodeArgs, ArbiterArgs []string
	FlushEvery, LeaseTTL  time.Duration
	Overlap               bool
	Dir                   string // the run's folder (history, logs, data)
	Kept                  bool   // the folder was kept
	Wall                  time.Duration

	Ops    int
	Phases []Phase
	Rows   []PhaseRow

	SetRows        int64
	LostInDiverged map[int64]DivergedHit
	// RegLostInDiverged counts acknowledged register writes found in a
	// loss window (async mode).
	RegLostInDiverged int
	Cuts              []string

	WriteWindows []WriteWindow
	SplitBrain   []string
	Epochs       uint64

	Converged    bool
	Digest       string
	DigestLSN    uint64
	FinalStatus  string
	FinalMembers []string

	// Problems are run-level problems (aborted, no convergence, phantoms).
	Problems []string
}

// unexplainedLost is a row's lost rows not allowed by the mode.
func (r *Report) unexplainedLost(row PhaseRow) int {
	if r.Mode == ModeAsync {
		return row.Lost - row.LostInDiverged
	}
	return row.Lost
}

// Failed reports whether the run found a problem: in sync mode any lost
// acknowledged row, linearizability violation, missed search, split
// brain, phantom, failure to recover or to converge; in async mode the
// same except acknowledged rows and register writes found in a reported
// loss window (diverged/), and the missed searches and reads they
// explain.
func (r *Report) Failed() bool {
	if len(r.Problems) > 0 || len(r.SplitBrain) > 0 || !r.Converged {
		return true
	}
	for _, row := range r.Rows {
		if row.NotRecovered || r.unexplainedLost(row) > 0 {
			return true
		}
		if row.Violations > 0 || row.SearchMisses > row.SearchMissesLost {
			return true
		}
	}
	return false
}

// KindRow sums the phases of one fault kind.
type KindRow struct {
	Kind                           string
	Runs                           int
	Ops, OK, Failed, Indeterminate int
	Acked, Lost, LostInDiverged    int
	Violations, Unknown            int
	SearchMisses, SearchMissesLost int
	MaxUnavail                     time.Duration
	NotRecovered                   int
}

// ByKind sums the rows by fault kind, in the order of AllFaults (the
// baseline "none" first).
func (r *Report) ByKind() []KindRow {
	m := map[string]*KindRow{}
	for _, row := range r.Rows {
		k := m[row.Kind]
		if k == nil {
			k = &KindRow{Kind: row.Kind}
			m[row.Kind] = k
		}
		k.Runs++
		k.Ops += row.Ops
		k.OK += row.OK
		k.Failed += row.Failed
		k.Indeterminate += row.Indeterminate
		k.Acked += row.Acked
		k.Lost += row.Lost
		k.LostInDiverged += row.LostInDiverged
		k.Violations += row.Violations
		k.Unknown += row.Unknown
		k.SearchMisses += row.SearchMisses
		k.SearchMissesLost += row.SearchMissesLost
		k.MaxUnavail = max(k.MaxUnavail, row.MaxUnavail)
		if row.NotRecovered {
			k.NotRecovered++
		}
	}
	var out []KindRow
	for _, kind := range append([]string{"none"}, AllFaults...) {
		if k := m[kind]; k != nil {
			out = append(out, *k)
			delete(m, kind)
		}
	}
	var rest []string
	for k := range m {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	for _, k := range rest {
		out = append(out, *m[k])
	}
	return out
}

// Table renders the by-kind table: fault kind x runs, operations,
// failed/indeterminate, acknowledged writes lost, linearizability
// violations, search misses, max unavailability.
func (r *Report) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\truns\tops\tok\tfailed\tindet.\tacked rows\tlost\tlin. viol.\tsearch miss\tmax unavail.\t")
	var tot KindRow
	for _, k := range r.ByKind() {
		lost := fmt.Sprint(k.Lost)
		if r.Mode == ModeAsync && k.Lost > 0 {
			lost = fmt.Sprintf("%d (%d in diverged/)", k.Lost, k.LostInDiverged)
		}
		unavail := k.MaxUnavail.Round(10 * time.Millisecond).String()
		if k.NotRecovered > 0 {
			unavail += fmt.Sprintf(" (%d not recovered)", k.NotRecovered)
		}
		viol := fmt.Sprint(k.Violations)
		if k.Unknown > 0 {
			viol += fmt.Sprintf(" (+%d unknown)", k.Unknown)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t\n", k.Kind, k.Runs, k.Ops, k.OK, k.Failed,
			k.Indeterminate, k.Acked, lost, viol, k.SearchMisses, unavail)
		tot.Runs += k.Runs
		tot.Ops += k.Ops
		tot.OK += k.OK
		tot.Failed += k.Failed
		tot.Indeterminate += k.Indeterminate
		tot.Acked += k.Acked
		tot.Lost += k.Lost
		tot.Violations += k.Violations
		tot.SearchMisses += k.SearchMisses
		tot.MaxUnavail = max(tot.MaxUnavail, k.MaxUnavail)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", tot.Runs, tot.Ops, tot.OK, tot.Failed,
		tot.Indeterminate, tot.Acked, tot.Lost, tot.Violations, tot.SearchMisses, tot.MaxUnavail.Round(10*time.Millisecond))
	tw.Flush()
	return b.String()
}

// String renders the whole report.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s: seed %d, mode %s, %d operations, %v\n", verdict, r.Name, r.Seed, r.Mode, r.Ops, r.Wall.Round(time.Second))
	replay := fmt.Sprintf("TANDEM_CHAOS_SEED=%d TANDEM_CHAOS_MODE=%s TANDEM_CHAOS_FAULTS=%s TANDEM_CHAOS_COUNT=%d",
		r.Seed, r.Mode, strings.Join(r.Faults, ","), max(len(r.Phases)-1, 1))
	if len(r.NodeArgs) > 0 {
		replay += fmt.Sprintf(" TANDEM_CHAOS_NODE_ARGS=%q", strings.Join(r.NodeArgs, " "))
	}
	if len(r.ArbiterArgs) > 0 {
		replay += fmt.Sprintf(" TANDEM_CHAOS_ARBITER_ARGS=%q", strings.Join(r.ArbiterArgs, " "))
	}
	if r.FlushEvery > 0 {
		replay += fmt.Sprintf(" TANDEM_CHAOS_FLUSH=%v", r.FlushEvery)
	}
	if r.LeaseTTL > 0 {
		replay += fmt.Sprintf(" TANDEM_CHAOS_LEASE_TTL=%v", r.LeaseTTL)
	}
	if r.Overlap {
		replay += " TANDEM_CHAOS_OVERLAP=1"
	}
	fmt.Fprintf(&b, "replay: %s go test -count=1 -v -run TestChaosReplay ./tests/chaos\n", replay)
	b.WriteString(r.Table())
	fmt.Fprintf(&b, "phases:\n")
	for _, row := range r.Rows {
		var ph *Phase
		for i := range r.Phases {
			if r.Phases[i].Index == row.Phase {
				ph = &r.Phases[i]
			}
		}
		line := fmt.Sprintf("  %2d %-26s %-9s ops %5d ok %5d failed %4d indet. %4d lost %d viol. %d unavail. %v",
			row.Phase, row.Kind, row.Target, row.Ops, row.OK, row.Failed, row.Indeterminate, row.Lost, row.Violations,
			row.MaxUnavail.Round(10*time.Millisecond))
		if ph != nil && ph.Index > 0 {
			line += fmt.Sprintf("  leader %s@%d -> %s@%d", ph.LeaderA, ph.EpochA, ph.LeaderB, ph.EpochB)
			if ph.Recover > 0 {
				line += fmt.Sprintf(", whole %v after heal", time.Duration(ph.Recover-ph.Healed).Round(10*time.Millisecond))
			}
		}
		b.WriteString(line + "\n")
		if ph != nil {
			for _, n := range ph.Notes {
				fmt.Fprintf(&b, "       · %s\n", n)
			}
		}
		for _, p := range row.Problems {
			fmt.Fprintf(&b, "       ! %s\n", p)
		}
	}
	fmt.Fprintf(&b, "split brain (write windows of %d epochs checked): ", r.Epochs)
	if len(r.SplitBrain) == 0 {
		b.WriteString("none\n")
	} else {
		b.WriteString("\n")
		for _, s := range r.SplitBrain {
			fmt.Fprintf(&b, "  ! %s\n", s)
		}
	}
	if r.Converged {
		fmt.Fprintf(&b, "converged: every replica at applied lsn %d with state digest %s\n", r.DigestLSN, r.Digest)
	} else {
		b.WriteString("converged: NO\n")
	}
	for _, m := range r.FinalMembers {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	fmt.Fprintf(&b, "append set: %d rows at the end\n", r.SetRows)
	if r.Mode == ModeAsync {
		fmt.Fprintf(&b, "async: %d lost acknowledged rows and %d lost acknowledged register writes found in a diverged/ loss window\n",
			len(r.LostInDiverged), r.RegLostInDiverged)
		for _, c := range r.Cuts {
			fmt.Fprintf(&b, "  %s\n", c)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "! %s\n", p)
	}
	if r.Kept {
		fmt.Fprintf(&b, "evidence kept in %s (history.jsonl, phases.json, write-windows.json, cluster/logs, cluster/nodes)\n", r.Dir)
	}
	return b.String()
}
