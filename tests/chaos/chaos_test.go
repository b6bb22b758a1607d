// Package chaos_test runs fault-injection tests against real tandem
// processes (internal/chaos): a 3-member arbiter, a group of three nodes,
// two proxies, concurrent Milvus SDK clients, a seeded nemesis, and the
// history checkers.
//
//	go test -count=1 -v -run TestChaosShort ./tests/chaos      the CI run (fixed seeds, every fault once)
//	TANDEM_CHAOS_DURATION=10m TANDEM_CHAOS_SEED=7 go test -count=1 -timeout 0 -v -run TestChaosLong ./tests/chaos
//	TANDEM_CHAOS_SEED=7 TANDEM_CHAOS_MODE=sync TANDEM_CHAOS_FAULTS=kill-active,pause-active go test -count=1 -v -run TestChaosReplay ./tests/chaos
//
// TANDEM_CHAOS_OUT sets where run folders go (default: the temp dir);
// TANDEM_CHAOS_KEEP=1 keeps them after a passing run too.
package chaos_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/chaos"
	"github.com/tandem-db/tandem/internal/localgroup"
)

var tandemBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tandemBin = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", tandemBin, "github.com/tandem-db/tandem/cmd/tandem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tandem:", err)
		os.Exit(1)
	}
	localgroup.QuietSDK()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run carries out one chaos run and fails t when it finds a problem,
// printing the report (with the seed and the folder holding the evidence).
func run(t *testing.T, cfg chaos.Config) *chaos.Report {
	t.Helper()
	cfg.Binary = tandemBin
	if cfg.OutDir == "" {
		cfg.OutDir = os.Getenv("TANDEM_CHAOS_OUT")
	}
	cfg.Keep = cfg.Keep || os.Getenv("TANDEM_CHAOS_KEEP") != ""
	cfg.Logf = func(format string, args ...any) { t.Logf(format, args...) }
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-30*time.Second))
		defer cancel()
	}
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("seed %d: %v", cfg.Seed, err)
	}
	if rep.Failed() {
		t.Errorf("chaos run failed (seed %d, mode %s); evidence in %s\n%s", rep.Seed, rep.Mode, rep.Dir, rep)
	} else {
		t.Logf("\n%s", rep)
	}
	return rep
}

// TestChaosShort is the CI run, about two minutes:
//   - sync mode, every base fault kind (chaos.BaseFaults) once, in the
//     order seed 1 gives: zero
//     lost acknowledged writes, zero linearizability violations;
//   - sync mode again with seed 3, with a client flushing every 2s and
//     small WAL retention and segments, so that checkpoints truncate the
//     WAL and nodes coming back (or cut after a failover) install
//     snapshots, and with overlapping faults;
//   - async mode, the failover faults: lost writes are allowed only inside
//     the loss window the old active reports (its diverged/ files).
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for minutes")
	}
	start := time.Now()
	t.Run("sync", func(t *testing.T) {
		run(t, chaos.Config{Seed: 1, Mode: chaos.ModeSync, Faults: chaos.BaseFaults})
	})
	t.Run("sync-snapshots", func(t *testing.T) {
		run(t, chaos.Config{Seed: 3, Mode: chaos.ModeSync, Faults: chaos.BaseFaults, NodeArgs: smallWAL, Overlap: true,
			Workload: chaos.WorkloadConfig{FlushEvery: 2 * time.Second}})
	})
	t.Run("async", func(t *testing.T) {
		run(t, chaos.Config{Seed: 2, Mode: chaos.ModeAsync, Faults: chaos.FailoverFaults,
			Workload: chaos.WorkloadConfig{FlushEvery: 2 * time.Second}})
	})
	t.Logf("short chaos run: %v", time.Since(start).Round(time.Second))
}

// TestChaosShortExtra is the CI run of the newer fault kinds
// (chaos.ExtraFaults), each once in the order seed 5 gives, in sync
// mode, about a minute: proxy and client link partitions (one proxy's or
// one standby's link cut through a shared relay), ambiguous arbiter
// transactions, fsync errors and power loss on a standby, freezes of a
// standby, an arbiter member and (with a clock jump) the active. Zero lost
// acknowledged writes, zero linearizability violations, no split brain.
func TestChaosShortExtra(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for minutes")
	}
	start := time.Now()
	run(t, chaos.Config{Seed: 5, Mode: chaos.ModeSync, Faults: chaos.ExtraFaults})
	t.Logf("short chaos run (extra faults): %v", time.Since(start).Round(time.Second))
}

// smallWAL makes checkpoints truncate the WAL (standbys behind it get a
// snapshot) and seals segments often.
var smallWAL = []string{"--wal-retain-bytes", "65536", "--segment-rows", "2000"}

func envSeed(t *testing.T) int64 {
	s := os.Getenv("TANDEM_CHAOS_SEED")
	if s == "" {
		return time.Now().UnixNano() % 1_000_000
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("TANDEM_CHAOS_SEED=%q: %v", s, err)
	}
	return v
}

func envFaults(t *testing.T) []string {
	s := os.Getenv("TANDEM_CHAOS_FAULTS")
	if s == "" {
		return nil
	}
	fs := strings.Split(s, ",")
	for _, f := range fs {
		if !chaos.ValidFault(f) {
			t.Fatalf("TANDEM_CHAOS_FAULTS: unknown fault %q (known: %s)", f, strings.Join(chaos.AllFaults, ","))
		}
	}
	return fs
}

// envTuning applies TANDEM_CHAOS_NODE_ARGS (extra `tandem node` flags,
// space-separated, e.g. "--wal-retain-bytes 65536 --segment-rows 2000")
// and TANDEM_CHAOS_FLUSH (a Go duration: flush both collections that
// often, so the active checkpoints and truncates its WAL).
//
// TANDEM_CHAOS_ARBITER_ARGS adds `tandem arbiter` flags,
// TANDEM_CHAOS_LEASE_TTL sets the lease TTL (e.g. 1s with
// "--election-timeout 500ms --heartbeat-interval 50ms"), and
// TANDEM_CHAOS_OVERLAP=1 lets a second fault come during a first one.
func envTuning(t *testing.T, cfg *chaos.Config) {
	cfg.NodeArgs = append(cfg.NodeArgs, strings.Fields(os.Getenv("TANDEM_CHAOS_NODE_ARGS"))...)
	cfg.ArbiterArgs = append(cfg.ArbiterArgs, strings.Fields(os.Getenv("TANDEM_CHAOS_ARBITER_ARGS"))...)
	cfg.Overlap = os.Getenv("TANDEM_CHAOS_OVERLAP") != ""
	if s := os.Getenv("TANDEM_CHAOS_LEASE_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TANDEM_CHAOS_LEASE_TTL=%q: %v", s, err)
		}
		cfg.LeaseTTL = d
	}
	if s := os.Getenv("TANDEM_CHAOS_FLUSH"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TANDEM_CHAOS_FLUSH=%q: %v", s, err)
		}
		cfg.Workload.FlushEvery = d
	}
}

func envMode() string {
	if m := os.Getenv("TANDEM_CHAOS_MODE"); m != "" {
		return m
	}
	return chaos.ModeSync
}

// TestChaosLong injects random faults for TANDEM_CHAOS_DURATION (a Go
// duration) with seed TANDEM_CHAOS_SEED (default: from the clock; it is
// printed), mode TANDEM_CHAOS_MODE (sync) and kinds TANDEM_CHAOS_FAULTS
// (all). `make chaos` runs it.
func TestChaosLong(t *testing.T) {
	ds := os.Getenv("TANDEM_CHAOS_DURATION")
	if ds == "" {
		t.Skip("set TANDEM_CHAOS_DURATION (e.g. 10m) to run")
	}
	d, err := time.ParseDuration(ds)
	if err != nil {
		t.Fatalf("TANDEM_CHAOS_DURATION=%q: %v", ds, err)
	}
	seed := envSeed(t)
	t.Logf("seed %d", seed)
	cfg := chaos.Config{Seed: seed, Mode: envMode(), Faults: envFaults(t), Duration: d}
	envTuning(t, &cfg)
	run(t, cfg)
}

// TestChaosReplay replays one seed: the same schedule of faults (kinds,
// order, hold times, targets) as the run that printed it.
// TANDEM_CHAOS_COUNT sets the number of faults (default: one per kind).
func TestChaosReplay(t *testing.T) {
	if os.Getenv("TANDEM_CHAOS_SEED") == "" {
		t.Skip("set TANDEM_CHAOS_SEED to replay a run")
	}
	count := 0
	if s := os.Getenv("TANDEM_CHAOS_COUNT"); s != "" {
		count, _ = strconv.Atoi(s)
	}
	cfg := chaos.Config{Seed: envSeed(t), Mode: envMode(), Faults: envFaults(t), Count: count, Keep: true}
	envTuning(t, &cfg)
	run(t, cfg)
}

// TestChaosRecheck runs the register checker again over a kept run
// folder: TANDEM_CHAOS_RECHECK=DIR (and TANDEM_CHAOS_MODE=async for an
// async run).
func TestChaosRecheck(t *testing.T) {
	dir := os.Getenv("TANDEM_CHAOS_RECHECK")
	if dir == "" {
		t.Skip("set TANDEM_CHAOS_RECHECK to a kept run folder")
	}
	res, err := chaos.Recheck(dir, envMode(), 5*time.Minute, filepath.Join(dir, "linearizability"))
	if err != nil {
		t.Fatal(err)
	}
	for phase := 0; phase < 1000; phase++ {
		r := res[phase]
		if r == nil {
			continue
		}
		t.Logf("phase %d: %d keys, %d ops, %d indeterminate writes, %d failed reads: %d violations, %d unknown %v",
			phase, r.Keys, r.Ops, r.Indeterminate, r.FailedReads, r.Violations, r.Unknown, r.Problems)
		if r.Violations > 0 {
			t.Errorf("phase %d: %d keys not linearizable", phase, r.Violations)
		}
	}
}
