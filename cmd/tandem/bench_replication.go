package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/replbench"
)

// newBenchReplicationCmd is `tandem bench replication`: flags and
// printing; the runner is package replbench.
func newBenchReplicationCmd() *cobra.Command {
	var o replbench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replication",
		Short: "Insert throughput with replication: 1 node vs active + 2 standbys async vs sync (in-process, fsync on), and async lag",
		Long: `Measures batched insert throughput through the official Milvus Go SDK
against three in-process configurations, each started fresh (an embedded
arbiter member and nodes in a temporary directory, loopback, fsync on):

  no_standby  one node, replication off
  async       an active and 2 standbys, --sync-mode async
  sync        an active and 2 standbys, --sync-mode sync (both standbys in
              the sync set before the clock starts)

The configurations run interleaved (a,b,c,a,b,c,...) for --rounds rounds;
throughput is the median over the rounds, insert latency percentiles are
over every insert. While the replicated configurations run, the active's
view of its standbys (lag_seconds, lag_lsn) is sampled every
--lag-interval. Prints a table, or with --json one JSON object (the table
then goes to stderr).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if f.Changed("batches") && f.Changed("duration") {
				return fmt.Errorf("--batches and --duration are exclusive")
			}
			switch {
			case o.Dim <= 0, o.BatchRows <= 0, o.Clients <= 0, o.Rounds <= 0:
				return fmt.Errorf("--dim, --batch-rows, --clients and --rounds must be > 0")
			case o.Duration <= 0 && o.Batches <= 0:
				return fmt.Errorf("--batches must be > 0 (or give --duration)")
			case o.LagEvery <= 0:
				return fmt.Errorf("--lag-interval must be > 0")
			}
			if o.Duration > 0 {
				o.Batches, o.DurationSeconds = 0, o.Duration.Seconds()
			}
			o.Fsync = true
			o.LagIntervalMS = float64(o.LagEvery) / 1e6
			o.ClockIntervalMS = float64(replbench.LagClockEvery) / 1e6
			human := io.Writer(os.Stdout)
			if asJSON {
				human = os.Stderr
			}
			rep, err := replbench.Run(cmd.Context(), o, os.Stderr)
			if err != nil {
				return err
			}
			replbench.PrintReport(human, rep)
			if asJSON {
				b, err := json.Marshal(rep)
				if err != nil {
					return err
				}
				fmt.Println(string(b))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Dim, "dim", 768, "vector dimension")
	addBatchRowsFlag(f, &o.BatchRows, 1000, "rows per insert call", "batch")
	f.IntVar(&o.Clients, "clients", 2, "concurrent SDK clients (one connection each)")
	f.IntVar(&o.Batches, "batches", 200, "insert calls per configuration run (all clients together)")
	f.DurationVar(&o.Duration, "duration", 0, "run each configuration this long instead of --batches")
	f.IntVar(&o.Rounds, "rounds", 3, "rounds; each runs every configuration once, interleaved")
	f.IntVar(&o.WarmupPerClient, "warmup", 1, "untimed inserts per client before each run")
	f.IntVar(&o.MinSyncStandbys, "min-sync-standbys", 1, "sync configuration's --min-sync-standbys (both standbys are in the sync set anyway)")
	f.DurationVar(&o.LagEvery, "lag-interval", 10*time.Millisecond, "how often the active's standby lag is sampled")
	f.BoolVar(&asJSON, "json", false, "print one JSON object with every figure on stdout (the table goes to stderr)")
	f.StringVar(&o.ProfileDir, "cpuprofile-dir", "", "write a CPU profile of each run's timed part here (cpu-r<round>-<config>.pprof)")
	f.StringVar(&o.DataDir, "data-dir", "", "parent directory for the runs' data (default: a temporary one); each run's directory is removed afterwards")
	return cmd
}
