package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/localgroup"
)

func newBenchFailoverCmd() *cobra.Command {
	var (
		cfg               localgroup.BenchConfig
		asJSON            bool
		syncMode, dataDir string
		election          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Kill the active (or switch over) N times under write load and measure what the client saw",
		Long: `Start a local group (an arbiter, three nodes, and with --via-proxy a proxy)
as child processes of this binary on 127.0.0.1, run one writer that
upserts small batches of new rows continuously with the official Milvus
Go SDK, and --trials times:

  --mode kill        SIGKILL the active;
  --mode switchover  run 'tandem switchover' (a planned hand-over);
  --mode arbiter-leader  SIGKILL the arbiter member that is etcd's leader
                     (--arbiters 3), then restart it: the group must keep
                     its active (0 role changes) and pause writes briefly.

The writer talks directly to the active (looking the active up in the
arbiter again after an error) or, with --via-proxy, only to the proxy.
For each trial it measures the client-observed write unavailability (from
the kill, or the switchover command's start, to the first acknowledged
write after it), the longest gap between two acknowledged writes, the
server side time to the new active's "writes open", and reads back every
acknowledged row from the new active (lost rows). The killed node is then
restarted, and the next trial waits until it is a standby again and the
sync set holds all three nodes.

Targets: kill: p99 unavailability <= 1 s and no acknowledged row lost in
sync mode; switchover: p99 write pause (longest gap) <= 300 ms;
arbiter-leader: no role change in any trial and p99 write pause <= 1 s.
Percentiles are nearest-rank: with 20 trials p99 is the maximum.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.Cluster.Dir, cfg.Cluster.KeepDir = dataDir, dataDir != ""
			switch syncMode {
			case "sync":
			case "async":
				cfg.Cluster.NodeArgs = append(cfg.Cluster.NodeArgs, "--sync-mode", "async")
			default:
				return fmt.Errorf("--sync-mode = %q: must be sync or async", syncMode)
			}
			if election > 0 {
				cfg.Cluster.ArbiterArgs = append(cfg.Cluster.ArbiterArgs, "--election-timeout", election.String(),
					"--heartbeat-interval", (election / 10).String())
			}
			stderr := cmd.ErrOrStderr()
			t0 := time.Now()
			cfg.Progress = func(format string, args ...any) {
				fmt.Fprintf(stderr, "[%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
			}
			rep, err := localgroup.RunFailoverBench(ctx, cfg)
			if rep == nil {
				return err
			}
			if syncMode == "async" {
				rep.TargetLost = -1 // no zero-loss promise in async mode
				rep.MeetsLost = true
			}
			out := cmd.OutOrStdout()
			if asJSON {
				writeFailoverTable(stderr, rep, syncMode)
				b, jerr := json.Marshal(rep)
				if jerr != nil {
					return jerr
				}
				fmt.Fprintln(out, string(b))
			} else {
				writeFailoverTable(out, rep, syncMode)
			}
			if err != nil {
				return err
			}
			if !rep.MeetsLost {
				return errors.New("acknowledged rows were lost")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Trials, "trials", 20, "number of kills (or switchovers)")
	f.StringVar(&cfg.Mode, "mode", localgroup.ModeKill, "kill (SIGKILL the active), switchover (tandem switchover) or arbiter-leader (SIGKILL the arbiter's etcd leader: no role change expected)")
	f.BoolVar(&cfg.ViaProxy, "via-proxy", false, "the writer connects only to a tandem proxy (default: directly to the active)")
	f.BoolVar(&asJSON, "json", false, "print the results as one JSON object on stdout (the table goes to stderr)")
	f.IntVar(&cfg.Cluster.Nodes, "nodes", 3, "nodes in the group")
	f.IntVar(&cfg.Cluster.Arbiters, "arbiters", 1, "arbiter members: 1 or 3")
	f.DurationVar(&cfg.Cluster.LeaseTTL, "lease-ttl", 0, "nodes' --lease-ttl (default: the node's default); etcd raises a lease TTL to at least 1.5 x its election timeout, rounded up to whole seconds")
	f.DurationVar(&election, "election-timeout", 0, "arbiter members' --election-timeout, with --heartbeat-interval a tenth of it (default: the arbiter's default)")
	f.StringVar(&syncMode, "sync-mode", "sync", "nodes' --sync-mode: sync or async")
	addBatchRowsFlag(f, &cfg.Batch, 10, "rows per upsert call", "batch")
	f.IntVar(&cfg.Dim, "dim", 8, "vector dimension")
	f.DurationVar(&cfg.CallTimeout, "call-timeout", 0, "writer's per-call timeout (default 1s direct, 15s via the proxy)")
	f.DurationVar(&cfg.Pause, "pause", 2*time.Millisecond, "writer's pause between calls")
	f.DurationVar(&cfg.Settle, "settle", time.Second, "how long after the first acknowledged write the measurement window stays open")
	f.StringVar(&dataDir, "data-dir", "", "new or empty directory for data and logs, kept afterwards (default: a temporary one, removed afterwards)")
	return cmd
}

// writeFailoverTable prints the per-trial table and the summary.
func writeFailoverTable(w io.Writer, r *localgroup.BenchReport, syncMode string) {
	via := "directly to the active (re-resolved in the arbiter after an error)"
	if r.ViaProxy {
		via = "through a tandem proxy"
	}
	ttl := "node default"
	if r.LeaseTTLMs > 0 {
		ttl = fmt.Sprintf("%.0f ms", r.LeaseTTLMs)
	}
	fmt.Fprintf(w, "failover bench: mode %s, %d trials, writer %s, %d nodes (%s mode), %d arbiter member(s), lease TTL %s, %d rows per upsert\n",
		r.Mode, len(r.Trials), via, r.Nodes, syncMode, r.Arbiters, ttl, r.Batch)
	if len(r.ArbiterArgs) > 0 {
		fmt.Fprintf(w, "arbiter flags: %s\n", strings.Join(r.ArbiterArgs, " "))
	}
	fmt.Fprintln(w)
	sw := r.Mode == localgroup.ModeSwitchover
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	if sw {
		fmt.Fprint(tw, "trial\tfrom\tto\twrite pause ms\tcommand->writes open ms\tserver pause ms\tfailed calls\twhole again ms\tgap meanwhile ms\tacked rows\tlost\t\n")
	} else {
		fmt.Fprint(tw, "trial\tfrom\tto\tkill->first ack ms\tlongest gap ms\tkill->writes open ms\tfailed calls\trejoin ms\trejoin gap ms\tacked rows\tlost\t\n")
	}
	for _, t := range r.Trials {
		fmt.Fprintf(tw, "%d\t%s@%d\t%s@%d\t", t.Trial, t.From, t.FromEpoch, t.To, t.ToEpoch)
		if sw {
			fmt.Fprintf(tw, "%.0f\t%.0f\t%.1f\t", t.MaxGapMs, t.WritesOpenMs, t.ServerPauseMs)
		} else {
			fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t", t.UnavailableMs, t.MaxGapMs, t.WritesOpenMs)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%d\t%d\t\n", t.FailedWrites, t.RejoinMs, t.RejoinMaxGapMs, t.AckedRows, t.Lost)
	}
	tw.Flush()
	fmt.Fprintln(w)
	type row struct {
		name string
		d    localgroup.Dist
	}
	rows := []row{{"kill -> first ack", r.Unavailable}, {"longest gap", r.MaxGap}, {"kill -> writes open", r.WritesOpen}, {"rejoin", r.Rejoin}}
	if sw {
		rows = []row{{"write pause", r.MaxGap}, {"command -> writes open", r.WritesOpen}}
		if r.ServerPause != nil {
			rows = append(rows, row{"server pause", *r.ServerPause})
		}
		rows = append(rows, row{"whole again", r.Rejoin})
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "ms (nearest-rank)\tn\tp50\tp90\tp99\tmax\tmean\t\n")
	for _, x := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n", x.name, x.d.N, x.d.P50, x.d.P90, x.d.P99, x.d.Max, x.d.Mean)
	}
	tw.Flush()
	fmt.Fprintln(w)
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	target := r.Unavailable
	if r.Mode == localgroup.ModeSwitchover {
		target = r.MaxGap
	}
	if r.Mode == localgroup.ModeArbiterLeader {
		target = r.MaxGap
		fmt.Fprintf(w, "target  role changes = 0: %d of %d trials changed the active or its epoch  %s\n", r.RoleChanges, len(r.Trials), verdict(r.RoleChanges == 0))
	}
	fmt.Fprintf(w, "target  p99 %s <= %.0f ms: p99 = %.0f ms  %s\n", r.TargetMetric, r.TargetP99Ms, target.P99, verdict(r.MeetsP99))
	if r.TargetLost >= 0 {
		fmt.Fprintf(w, "target  acknowledged rows lost = 0 (sync mode): %d lost of %d acknowledged  %s\n", r.LostTotal, r.AckedRows, verdict(r.MeetsLost))
	} else {
		fmt.Fprintf(w, "async mode: %d of %d acknowledged rows lost (no zero-loss target)\n", r.LostTotal, r.AckedRows)
	}
	fmt.Fprintf(w, "writer calls failed: %d; run took %.1f s\n", r.FailedWrites, r.DurationSecond)
	if r.Error != "" {
		fmt.Fprintf(w, "STOPPED EARLY: %s\n", r.Error)
	}
}
