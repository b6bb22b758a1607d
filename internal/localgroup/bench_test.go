package localgroup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchReportSummarize(t *testing.T) {
	r := &BenchReport{Mode: ModeKill}
	for i := 1; i <= 20; i++ {
		r.Trials = append(r.Trials, Trial{Trial: i, UnavailableMs: float64(500 + 25*i), MaxGapMs: float64(1010 + 50*i),
			WritesOpenMs: float64(900 + 50*i), RejoinMs: 100, AckedRows: 100 * i, FailedWrites: 1})
	}
	r.Trials[3].WritesOpenMs = -1 // not seen: left out
	r.Trials[7].Lost = 2
	r.Summarize()
	if r.Unavailable.N != 20 || r.Unavailable.P50 != 750 || r.Unavailable.P99 != 1000 || r.Unavailable.Max != 1000 {
		t.Fatalf("unavailable %+v", r.Unavailable)
	}
	if r.WritesOpen.N != 19 {
		t.Fatalf("writes open n = %d, want 19", r.WritesOpen.N)
	}
	if r.LostTotal != 2 || r.MeetsLost || r.AckedRows != 2000 || r.FailedWrites != 20 {
		t.Fatalf("totals: lost %d meets %v acked %d failed %d", r.LostTotal, r.MeetsLost, r.AckedRows, r.FailedWrites)
	}
	if !r.MeetsP99 || r.TargetP99Ms != 1000 || r.TargetMetric != "unavailable_ms" {
		t.Fatalf("p99 1000 <= 1000 should pass: %v %v %v", r.MeetsP99, r.TargetP99Ms, r.TargetMetric)
	}
	r.Trials[19].UnavailableMs = 1001
	r.Summarize()
	if r.MeetsP99 {
		t.Fatal("p99 1001 passes a 1000 ms target")
	}
	if r.ServerPause != nil {
		t.Fatal("kill mode has a server pause distribution")
	}
	// Switchover: the target applies to the longest gap, 300 ms.
	s := &BenchReport{Mode: ModeSwitchover, Trials: []Trial{{MaxGapMs: 120, ServerPauseMs: 10}, {MaxGapMs: 280, ServerPauseMs: 30}}}
	s.Summarize()
	if !s.MeetsP99 || s.TargetP99Ms != 300 || s.TargetMetric != "max_gap_ms" || s.ServerPause == nil || s.ServerPause.Max != 30 || !s.MeetsLost {
		t.Fatalf("switchover summary %+v", s)
	}
	// Arbiter leader: a role change fails the mode whatever the gap.
	a := &BenchReport{Mode: ModeArbiterLeader, Trials: []Trial{{MaxGapMs: 20}, {MaxGapMs: 300}}}
	a.Summarize()
	if !a.MeetsP99 || a.TargetMetric != "max_gap_ms" || a.TargetP99Ms != 1000 || a.RoleChanges != 0 {
		t.Fatalf("arbiter-leader summary %+v", a)
	}
	a.Trials[1].RoleChanged = true
	a.Summarize()
	if a.MeetsP99 || a.RoleChanges != 1 {
		t.Fatalf("a role change passed: %+v", a)
	}
	// An empty report meets nothing about latency.
	e := &BenchReport{Mode: ModeKill}
	e.Summarize()
	if e.MeetsP99 {
		t.Fatal("no trials meets the p99 target")
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestParseSwitchoverJSON(t *testing.T) {
	from, to, epoch, paused, err := ParseSwitchoverJSON([]byte(`{"from":"n1","to":"n2","from_epoch":3,"epoch":4,"lsn":99,"paused_ms":12.5,"total_ms":40}` + "\n"))
	if err != nil || from != "n1" || to != "n2" || epoch != 4 || paused != 12.5 {
		t.Fatalf("ParseSwitchoverJSON = %q %q %d %v %v", from, to, epoch, paused, err)
	}
	for _, s := range []string{"", "switched over group g", `{"from":"n1"}`} {
		if _, _, _, _, err := ParseSwitchoverJSON([]byte(s)); err == nil {
			t.Errorf("ParseSwitchoverJSON(%q) succeeded", s)
		}
	}
}

func TestCheckSwitchover(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old-tandem")
	os.WriteFile(old, []byte("#!/bin/sh\necho 'Error: unknown command \"switchover\" for \"tandem\"' >&2\nexit 1\n"), 0o755)
	err := CheckSwitchover(old)
	if err == nil || !strings.Contains(err.Error(), "not available") || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("CheckSwitchover(a binary without it) = %v", err)
	}
	if _, err := RunFailoverBench(context.Background(), BenchConfig{Mode: ModeSwitchover, Cluster: Options{Binary: old}}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("RunFailoverBench in switchover mode without the command: %v", err)
	}
	fine := filepath.Join(dir, "new-tandem")
	os.WriteFile(fine, []byte("#!/bin/sh\necho '      --json   print the result as one JSON object'\n"), 0o755)
	if err := CheckSwitchover(fine); err != nil {
		t.Fatalf("CheckSwitchover(a binary with it) = %v", err)
	}
	if _, err := RunFailoverBench(context.Background(), BenchConfig{Mode: "reboot"}); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
}
