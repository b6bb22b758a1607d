package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchReplicationSmoke builds the binary and runs `tandem bench
// replication` with tiny settings: the JSON parses and holds the three
// configurations with figures.
func TestBenchReplicationSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tandem")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, bin, "bench", "replication", "--rounds", "1", "--batches", "6", "--batch-rows", "50",
		"--dim", "16", "--json", "--data-dir", filepath.Join(dir, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench replication: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("ran in %v; table:\n%s", time.Since(t0).Round(time.Millisecond), stderr.String())

	var rep struct {
		Bench   string `json:"bench"`
		Configs []struct {
			Name           string  `json:"name"`
			Standbys       int     `json:"standbys"`
			VectorMBPerSec float64 `json:"vector_mb_per_sec"`
			P50MS          float64 `json:"p50_ms"`
			P99MS          float64 `json:"p99_ms"`
			Rounds         []struct {
				Inserts int `json:"inserts"`
			} `json:"rounds"`
			Lag *struct {
				Samples int `json:"samples"`
			} `json:"lag"`
		} `json:"configs"`
		Ratios   map[string]float64 `json:"ratios"`
		AsyncLag *struct {
			Samples int `json:"samples"`
		} `json:"async_lag"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if rep.Bench != "replication" {
		t.Fatalf("bench = %q", rep.Bench)
	}
	want := map[string]int{"no_standby": 0, "async": 2, "sync": 2}
	if len(rep.Configs) != len(want) {
		t.Fatalf("%d configurations, want %d: %s", len(rep.Configs), len(want), stdout.String())
	}
	for _, c := range rep.Configs {
		sb, ok := want[c.Name]
		if !ok {
			t.Fatalf("unexpected configuration %q", c.Name)
		}
		delete(want, c.Name)
		if c.Standbys != sb || c.VectorMBPerSec <= 0 || c.P50MS <= 0 || c.P99MS < c.P50MS || len(c.Rounds) != 1 || c.Rounds[0].Inserts != 6 {
			t.Fatalf("configuration %s: %+v", c.Name, c)
		}
		if (c.Lag != nil) != (sb > 0) {
			t.Fatalf("configuration %s: lag %+v", c.Name, c.Lag)
		}
	}
	for _, k := range []string{"sync_over_no_standby", "async_over_no_standby"} {
		if rep.Ratios[k] <= 0 {
			t.Fatalf("ratio %s = %v", k, rep.Ratios[k])
		}
	}
	if rep.AsyncLag == nil {
		t.Fatal("async_lag missing")
	}
}
