package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tandem-db/tandem/internal/dataset"
)

// runSearchBench runs `tandem bench search` in this process (so under the
// race detector when the tests are) and returns its JSON lines.
func runSearchBench(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	cmd := newBenchSearchCmd()
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %v", len(lines), lines)
	}
	return lines
}

// TestBenchSearchClientsRace: the multi-client loop of `bench search
// --index HNSW` with several clients (it once shared one SDK AnnParam, whose
// map every request writes: "fatal error: concurrent map writes"), and the
// recall it prints: every path reports recall_at_k, exact for FLAT.
func TestBenchSearchClientsRace(t *testing.T) {
	lines := runSearchBench(t, "--n", "1500", "--dim", "16", "--queries", "60", "--index", "HNSW", "--ef", "64",
		"--clients", "4", "--anchor=false")
	for _, l := range lines {
		if r, ok := l["recall_at_k"].(float64); !ok || r < 0.9 || r > 1 {
			t.Fatalf("HNSW ef 64 on 1500 x 16: recall_at_k %v in %v", l["recall_at_k"], l)
		}
	}
	if c := lines[2]["clients"]; c != 4.0 {
		t.Fatalf("multi-client line %v", lines[2])
	}
	for _, l := range runSearchBench(t, "--n", "800", "--dim", "8", "--queries", "20", "--k", "5", "--clients", "3", "--anchor=false") {
		if l["recall_at_k"] != 1.0 {
			t.Fatalf("FLAT: recall_at_k %v, want 1: %v", l["recall_at_k"], l)
		}
	}
}

// TestBenchSearchDatasetDir: --dataset fashion-mnist with a prepared
// directory uses its ground truth when the whole base is loaded.
func TestBenchSearchDatasetDir(t *testing.T) {
	dir := t.TempDir()
	base, q := dataset.Random(600, 8, 5), dataset.Random(30, 8, 6)
	if err := dataset.WriteFvecs(filepath.Join(dir, "base.fvecs"), base); err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteFvecs(filepath.Join(dir, "query.fvecs"), q); err != nil {
		t.Fatal(err)
	}
	// A deliberately wrong ground truth (row 0 for every neighbour): read
	// from the file, it makes recall 0 (at most 1/k), which shows it was used.
	gt := make([][]int32, q.N())
	for i := range gt {
		gt[i] = make([]int32, 10)
	}
	if err := dataset.WriteIvecs(filepath.Join(dir, "groundtruth.ivecs"), gt); err != nil {
		t.Fatal(err)
	}
	lines := runSearchBench(t, "--dataset", "fashion-mnist", "--dataset-dir", dir, "--queries", "30", "--anchor=false")
	if r := lines[0]["recall_at_k"].(float64); r > 0.1 || lines[0]["n"] != 600.0 {
		t.Fatalf("ground truth file not used: %v", lines[0])
	}
	// A limited base: ground truth recomputed, FLAT exact.
	lines = runSearchBench(t, "--dataset", "fashion-mnist", "--dataset-dir", dir, "--n", "300", "--queries", "30", "--anchor=false")
	if lines[0]["recall_at_k"] != 1.0 || lines[0]["n"] != 300.0 {
		t.Fatalf("limited base: %v", lines[0])
	}
}
