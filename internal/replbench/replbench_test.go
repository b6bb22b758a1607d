package replbench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSmoke runs the replication benchmark with tiny settings: its
// JSON holds the three configurations with figures, and the table
// prints.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three groups")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	o := Options{Dim: 16, BatchRows: 50, Clients: 2, Batches: 6, Rounds: 1, WarmupPerClient: 1, MinSyncStandbys: 1,
		Fsync: true, LagEvery: 10 * time.Millisecond, DataDir: filepath.Join(dir, "data")}
	var progress bytes.Buffer
	r, err := Run(ctx, o, &progress)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	var table bytes.Buffer
	PrintReport(&table, r)
	t.Logf("ran in %v; table:\n%s", time.Since(t0).Round(time.Millisecond), table.String())
	if !strings.Contains(table.String(), "sync") {
		t.Fatalf("table:\n%s", table.String())
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	stdout := bytes.NewBuffer(out)

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
