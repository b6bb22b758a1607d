package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runTandem runs the tandem binary to completion (bounded) and returns its
// stdout and stderr.
func runTandem(t *testing.T, timeout time.Duration, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tandemBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("tandem %s: %v in %v", strings.Join(args, " "), err, time.Since(t0).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("tandem %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestDemo runs `tandem demo` with short settings: it starts an arbiter,
// three nodes and a proxy as child processes, loads rows through the proxy,
// SIGKILLs the active under load, and must report that every acknowledged
// row is still there, the killed node rejoined and all three converged.
func TestDemo(t *testing.T) {
	out, _ := runTandem(t, 90*time.Second, "demo", "--rows", "2000", "--duration", "4s", "--kill-after", "1s")
	t.Logf("demo output:\n%s", out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`SIGKILL (n\d), the active \(epoch 1\)`),
		regexp.MustCompile(`(n\d) opened writes at epoch 2`),
		regexp.MustCompile(`first upsert acknowledged through the proxy since the kill`),
		regexp.MustCompile(`first search acknowledged through the proxy since the kill`),
		regexp.MustCompile(`acknowledged rows lost +OK\n`),
		regexp.MustCompile(`rejoined as a standby`),
		regexp.MustCompile(`converged: n1, n2, n3 at applied LSN \d+ with state digest \w+ on all three`),
		regexp.MustCompile(`demo OK: `),
	} {
		if !want.MatchString(out) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "LOST") {
		t.Errorf("demo reports lost rows")
	}
	m := regexp.MustCompile(`rows acknowledged +(\d+) .*\n.*rows found afterwards +(\d+) acknowledged rows present`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Errorf("acknowledged vs found rows: %v", m)
	}
}

// TestBenchFailover runs `tandem bench failover --trials 2 --json` and
// checks the JSON: two trials, each with a new active at a higher epoch,
// measured unavailability, and no acknowledged write lost (sync mode).
func TestBenchFailover(t *testing.T) {
	out, stderr := runTandem(t, 120*time.Second, "bench", "failover", "--trials", "2", "--json")
	t.Logf("bench table (stderr):\n%s", stderr)
	var rep struct {
		Bench  string `json:"bench"`
		Mode   string `json:"mode"`
		Trials []struct {
			Trial         int     `json:"trial"`
			From          string  `json:"from"`
			FromEpoch     uint64  `json:"from_epoch"`
			To            string  `json:"to"`
			ToEpoch       uint64  `json:"to_epoch"`
			UnavailableMs float64 `json:"unavailable_ms"`
			MaxGapMs      float64 `json:"max_gap_ms"`
			WritesOpenMs  float64 `json:"writes_open_ms"`
			AckedRows     int     `json:"acked_rows"`
			Lost          int     `json:"lost"`
		} `json:"trials"`
		Unavailable struct {
			N   int     `json:"n"`
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
			Max float64 `json:"max"`
		} `json:"unavailable_ms"`
		LostTotal   int     `json:"lost_total"`
		AckedRows   int     `json:"acked_rows"`
		TargetP99Ms float64 `json:"target_p99_ms"`
		MeetsLost   bool    `json:"meets_lost"`
		Error       string  `json:"error"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("bench output is not one JSON object: %v\n%s", err, out)
	}
	if rep.Bench != "failover" || rep.Mode != "kill" || len(rep.Trials) != 2 || rep.Error != "" {
		t.Fatalf("report: %+v", rep)
	}
	for _, tr := range rep.Trials {
		if tr.To == tr.From || tr.ToEpoch <= tr.FromEpoch {
			t.Errorf("trial %d: %s@%d -> %s@%d: no new active at a higher epoch", tr.Trial, tr.From, tr.FromEpoch, tr.To, tr.ToEpoch)
		}
		if tr.UnavailableMs <= 0 || tr.MaxGapMs < tr.UnavailableMs-1 || tr.WritesOpenMs <= 0 || tr.WritesOpenMs > tr.UnavailableMs+1 {
			t.Errorf("trial %d: implausible times: unavailable %v ms, longest gap %v ms, writes open %v ms", tr.Trial, tr.UnavailableMs, tr.MaxGapMs, tr.WritesOpenMs)
		}
		if tr.UnavailableMs > 15000 {
			t.Errorf("trial %d: writes unavailable for %v ms", tr.Trial, tr.UnavailableMs)
		}
	}
	if rep.Unavailable.N != 2 || rep.Unavailable.P99 != rep.Unavailable.Max || rep.TargetP99Ms != 1000 {
		t.Errorf("distribution: %+v target %v", rep.Unavailable, rep.TargetP99Ms)
	}
	if rep.LostTotal != 0 || !rep.MeetsLost || rep.AckedRows == 0 {
		t.Errorf("lost %d of %d acknowledged rows (sync mode must lose none)", rep.LostTotal, rep.AckedRows)
	}
	t.Logf("failover: unavailable p50 %.0f ms, max %.0f ms; %d acknowledged rows, none lost", rep.Unavailable.P50, rep.Unavailable.Max, rep.AckedRows)
}
