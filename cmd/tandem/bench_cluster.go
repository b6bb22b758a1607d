package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/localgroup"
)

func newBenchClusterCmd() *cobra.Command {
	var (
		cfg    localgroup.ClusterBenchConfig
		groups string
		asJSON bool
		keep   bool
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Measure a cluster: root coordinator takeovers under load, and throughput with 1, 2, 4 groups",
		Long: `Start local clusters as child processes of this binary on 127.0.0.1 and
measure, through "tandem proxy --cluster" with the official Go SDK:

  1. takeover: an arbiter, two coordinators, one group and a proxy, with
     upserts and searches running; --kills times SIGKILL the root
     coordinator's active, issue a CreateCollection at once, and record when
     it succeeds (DDL unavailability) and when the status shows the new
     root (takeover); the killed coordinator is restarted each time. The
     data path's errors and longest gap between successes are reported.
  2. scale: for each count in --groups, one coordinator and that many
     one-node groups (async): 4 clients insert 500-row batches for
     --duration, then 4 clients search (top 10) for --duration.

The figures depend on this machine: the CPU count is printed with them
(with fewer cores than processes, more groups cannot show scaling).
--json prints one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Binary = exe
			for _, g := range strings.Split(groups, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(g))
				if err != nil || n < 1 || n > 8 {
					return fmt.Errorf("--groups %q: want counts in 1..8, comma-separated", groups)
				}
				cfg.Groups = append(cfg.Groups, n)
			}
			if cfg.Kills < 1 {
				return fmt.Errorf("--kills %d: must be >= 1", cfg.Kills)
			}
			dir, err := os.MkdirTemp("", "tandem-bench-cluster-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(dir)
			}
			cfg.Dir = dir
			out := cmd.OutOrStdout()
			if !asJSON {
				cfg.Progress = func(format string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", a...) }
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep, err := localgroup.RunClusterBench(ctx, cfg)
			if err != nil {
				return fmt.Errorf("bench cluster (logs in %s): %w", dir, err)
			}
			if asJSON {
				return json.NewEncoder(out).Encode(rep)
			}
			fmt.Fprintf(out, "cpus %d\n", rep.CPUs)
			fmt.Fprintf(out, "root coordinator SIGKILLs: %d\n", rep.Kills)
			fmt.Fprintf(out, "  DDL unavailable ms: p50 %.0f  p99 %.0f  max %.0f\n", rep.DDLUnavailMs.P50, rep.DDLUnavailMs.P99, rep.DDLUnavailMs.Max)
			fmt.Fprintf(out, "  takeover ms:        p50 %.0f  p99 %.0f  max %.0f\n", rep.TakeoverMs.P50, rep.TakeoverMs.P99, rep.TakeoverMs.Max)
			fmt.Fprintf(out, "  data path: upsert errors %d, search errors %d; longest gap upsert %.0f ms, search %.0f ms (before the kills: %.0f ms)\n",
				rep.UpsertErrors, rep.SearchErrors, rep.UpsertMaxGapMs, rep.SearchMaxGapMs, rep.BaselineGapMs)
			for _, s := range rep.Scale {
				fmt.Fprintf(out, "groups %d: insert %.0f rows/s, search %.0f QPS\n", s.Groups, s.InsertRowsSec, s.SearchQPS)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Kills, "kills", 20, "SIGKILLs of the root coordinator's active")
	f.StringVar(&groups, "groups", "1,2,4", "group counts of the scale runs, comma-separated")
	f.DurationVar(&cfg.Duration, "duration", 5*time.Second, "length of each scale run's insert phase and of its search phase")
	f.IntVar(&cfg.Dim, "dim", 64, "vector dimension of the scale runs")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVar(&keep, "keep", false, "keep the working directory (data and logs)")
	return cmd
}
