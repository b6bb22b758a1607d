package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/localgroup"
)

func newDemoCmd() *cobra.Command {
	var (
		rows, loadBatch           int
		duration, killAfter       time.Duration
		keep                      bool
		dataDir, ds, dsDir, group string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a local HA group behind a proxy, load data, kill the active under load, and show what the client saw",
		Long: `Run the whole failover story on this machine in well under a minute, as
real processes of this binary on 127.0.0.1:

  1. an arbiter, a group of three nodes (one active, two standbys, sync
     mode: a write is acknowledged only once the standbys have it) and a
     proxy;
  2. load a dataset into a collection through the proxy with the official
     Milvus Go SDK (Fashion-MNIST when Debian's dataset-fashion-mnist is
     installed or base.fvecs is in --dataset-dir, generated vectors
     otherwise);
  3. run upserts and searches through the proxy, SIGKILL the active, and
     print a timeline: who took over at which epoch, how long the client
     saw no successful upsert or search, and whether every acknowledged row
     is still there (OK, or LOST n);
  4. restart the killed node and show it rejoin as a standby and converge
     (equal state digest on all three).

Everything it started is killed on exit and on Ctrl-C; with --keep the
processes stay up (addresses printed) until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			d := &demo{out: cmd.OutOrStdout(), t0: time.Now(), rows: rows, loadBatch: loadBatch,
				duration: duration, killAfter: killAfter, keep: keep, dataDir: dataDir,
				dataset: ds, datasetDir: dsDir, group: group}
			err := d.run(ctx)
			if ctx.Err() != nil && !d.finished {
				fmt.Fprintln(d.out, "interrupted: stopping every process")
				return errors.New("interrupted")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&rows, "rows", 20000, "rows to load before the failover (0: the whole dataset)")
	addBatchRowsFlag(f, &loadBatch, 500, "rows per insert call while loading", "load-batch")
	f.DurationVar(&duration, "duration", 8*time.Second, "how long the mixed upsert/search load runs (longer if the failover is not over by then)")
	f.DurationVar(&killAfter, "kill-after", 2*time.Second, "when, after the load starts, the active is SIGKILLed")
	f.BoolVar(&keep, "keep", false, "leave everything running afterwards (addresses printed) until Ctrl-C")
	f.StringVar(&dataDir, "data-dir", "", "new or empty directory for the data and logs, kept afterwards (default: a temporary one, removed at exit)")
	f.StringVar(&ds, "dataset", "auto", "auto (Fashion-MNIST if present, else random), fashion-mnist, random, or a .fvecs / IDX3 image file")
	f.StringVar(&dsDir, "dataset-dir", "", "directory with Fashion-MNIST base.fvecs, if Debian's dataset-fashion-mnist is not installed (default ./.data/fashion-mnist)")
	f.StringVar(&group, "group", "demo", "HA group name")
	return cmd
}

type demo struct {
	out                     io.Writer
	t0                      time.Time
	rows, loadBatch         int
	duration, killAfter     time.Duration
	keep                    bool
	dataDir, dataset, group string
	datasetDir              string
	finished                bool // --keep: ended by Ctrl-C after a complete run
}

// at prints one timeline line stamped with the time of the event.
func (d *demo) at(t time.Time, format string, args ...any) {
	fmt.Fprintf(d.out, "%7.2fs  %s\n", t.Sub(d.t0).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) say(format string, args ...any) { d.at(time.Now(), format, args...) }

func (d *demo) note(format string, args ...any) {
	fmt.Fprintf(d.out, "          %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	if d.loadBatch <= 0 || d.duration <= 0 || d.killAfter <= 0 {
		return errors.New("--batch-rows, --duration and --kill-after must be > 0")
	}
	localgroup.QuietSDK()
	vecs, src, err := localgroup.LoadVectors(d.dataset, d.datasetDir, d.rows, 0)
	if err != nil {
		return err
	}
	n := vecs.N()
	d.say("dataset: %d vectors of dimension %d, %s", n, vecs.Dim, src)

	lg, err := localgroup.Start(ctx, localgroup.Options{
		Dir: d.dataDir, KeepDir: d.dataDir != "", Group: d.group, Nodes: 3, Proxies: 1,
		Progress: d.say,
	})
	if err != nil {
		return err
	}
	defer lg.Close()
	if d.dataDir == "" && !d.keep {
		d.note("data and logs in %s (removed at exit; keep them with --data-dir)", lg.Dir)
	} else {
		d.note("data and logs in %s", lg.Dir)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := lg.AwaitStatus(sctx, "one active and two standbys in the sync set", localgroup.Settled(3, 1))
	cancel()
	if err != nil {
		return err
	}
	d.say("%s is active (epoch %d); standbys %s; sync set [%s]", st.Leader, st.Epoch,
		strings.Join(standbys(st), ", "), strings.Join(st.SyncNodes, " "))

	proxy := lg.Proxies[0]
	src1 := localgroup.FixedAddr(proxy.Addr)
	defer src1.Close()
	c, err := src1.Get(ctx)
	if err != nil {
		return fmt.Errorf("connect to the proxy: %w", err)
	}
	const coll = "demo"
	if err := localgroup.CreateCollection(ctx, c, coll, vecs.Dim); err != nil {
		return err
	}
	// Load the dataset through the proxy.
	t := time.Now()
	for off := 0; off < n; off += d.loadBatch {
		end := min(off+d.loadBatch, n)
		ids := make([]int64, 0, end-off)
		rs := make([][]float32, 0, end-off)
		for i := off; i < end; i++ {
			ids = append(ids, int64(i))
			rs = append(rs, vecs.Row(i))
		}
		if _, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).
			WithInt64Column("id", ids).WithFloatVectorColumn("vec", vecs.Dim, rs)); err != nil {
			return fmt.Errorf("load rows %d..%d: %w", off, end-1, err)
		}
	}
	secs := time.Since(t).Seconds()
	d.say("loaded %d rows through the proxy into collection %q (FLAT, L2) in %.1fs: %.0f rows/s, acknowledged by the active and both standbys",
		n, coll, secs, float64(n)/secs)

	// Mixed load: one upsert loop (10 new rows a call, vectors taken from
	// the dataset) and one search loop, both through the proxy.
	r := rand.New(rand.NewPCG(7, 7))
	cfg := localgroup.LoadConfig{
		Collection: coll, Dim: vecs.Dim, Batch: 10, FirstID: int64(n),
		Vector:  func(id int64) []float32 { return vecs.Row(int(id) % n) },
		Query:   func(int) []float32 { return vecs.Row(r.IntN(n)) },
		Timeout: 15 * time.Second, Pause: 5 * time.Millisecond,
	}
	src2 := localgroup.FixedAddr(proxy.Addr)
	defer src2.Close()
	ups := localgroup.StartUpserts(ctx, src1, cfg)
	srch := localgroup.StartSearches(ctx, src2, cfg)
	loadStart := time.Now()
	d.say("mixed load through the proxy: upserts (10 new rows each) and searches (top 10), one client each")
	if err := sleepCtx(ctx, d.killAfter); err != nil {
		ups.Halt()
		srch.Halt()
		return err
	}

	kill, err := lg.KillLeader(ctx)
	if err != nil {
		ups.Halt()
		srch.Halt()
		return err
	}
	uok, _ := localgroup.Count(ups.Ops(), "upsert")
	sok, _ := localgroup.Count(srch.Ops(), "search")
	d.at(kill.At, "SIGKILL %s, the active (epoch %d), after %d upserts and %d searches", kill.Node.ID, kill.Epoch, uok, sok)

	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	opened, oerr := lg.AwaitWritesOpen(fctx, kill.Marks, kill.Node.ID, kill.Epoch)
	var upErr, srErr error
	if oerr == nil {
		upErr = ups.AwaitOK(fctx, 1, kill.Dead)
		srErr = srch.AwaitOK(fctx, 1, kill.Dead)
	}
	fcancel()
	if oerr != nil {
		ups.Halt()
		srch.Halt()
		return fmt.Errorf("no failover: %w", oerr)
	}
	// The failover as it happened, in time order.
	type event struct {
		at  time.Time
		msg string
	}
	events := []event{{opened.Line.Logged, fmt.Sprintf("%s opened writes at epoch %d: %.2fs after the kill (lease expiry, election, promotion)",
		opened.Node.ID, opened.Epoch, opened.Line.Logged.Sub(kill.At).Seconds())}}
	if l, _, _, ok := opened.Node.Proc().FindLine(campaignWonRe, kill.Marks[opened.Node.ID]); ok {
		events = append(events, event{l.Logged, fmt.Sprintf("%s's lease expired; %s won the election for epoch %d", kill.Node.ID, opened.Node.ID, opened.Epoch)})
	}
	for _, x := range []struct {
		l    *localgroup.Load
		kind string
		err  error
	}{{ups, "upsert", upErr}, {srch, "search", srErr}} {
		if x.err != nil {
			events = append(events, event{time.Now(), fmt.Sprintf("no %s succeeded after the kill: %v", x.kind, x.err)})
			continue
		}
		if first, ok := localgroup.FirstOKAfter(x.l.Ops(), x.kind, kill.Dead, 50*time.Millisecond); ok {
			events = append(events, event{first, fmt.Sprintf("first %s acknowledged through the proxy since the kill: %.2fs after it", x.kind, first.Sub(kill.At).Seconds())})
		}
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	for _, e := range events {
		d.at(e.at, "%s", e.msg)
	}
	// Let the load run to its end (at least 2s past the failover).
	end := loadStart.Add(d.duration)
	if soon := time.Now().Add(2 * time.Second); end.Before(soon) {
		end = soon
	}
	sleepErr := sleepCtx(ctx, time.Until(end))
	upOps, srOps := ups.Halt(), srch.Halt()
	if sleepErr != nil {
		return sleepErr
	}
	uok, ufail := localgroup.Count(upOps, "upsert")
	sok, sfail := localgroup.Count(srOps, "search")
	d.say("load stopped: %d upserts acknowledged (%d failed), %d searches answered (%d failed)", uok, ufail, sok, sfail)
	for _, op := range slices.Concat(upOps, srOps) {
		if op.Err != nil {
			d.note("client error (%s, %.2fs..%.2fs): %v", op.Kind, op.Start.Sub(d.t0).Seconds(), op.End.Sub(d.t0).Seconds(), trimErr(op.Err))
		}
	}

	// Every acknowledged row must be there.
	acked := localgroup.AckedIDs(upOps)
	all := make([]int64, 0, n+len(acked))
	for i := 0; i < n; i++ {
		all = append(all, int64(i))
	}
	all = append(all, acked...)
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	missing, err := localgroup.MissingIDs(rctx, c, coll, all)
	var count int64
	if err == nil {
		count, err = localgroup.CountRows(rctx, c, coll)
	}
	rcancel()
	if err != nil {
		return err
	}
	gapU, atU := localgroup.LongestGap(upOps, "upsert", time.Time{}, time.Time{})
	gapS, atS := localgroup.LongestGap(srOps, "search", time.Time{}, time.Time{})
	verdict := "OK"
	if len(missing) > 0 {
		verdict = fmt.Sprintf("LOST %d", len(missing))
	}
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "  result")
	fmt.Fprintf(d.out, "    active before / after         %s (epoch %d) -> %s (epoch %d)\n", kill.Node.ID, kill.Epoch, opened.Node.ID, opened.Epoch)
	fmt.Fprintf(d.out, "    kill -> writes open (server)  %.2fs\n", opened.Line.Logged.Sub(kill.At).Seconds())
	fmt.Fprintf(d.out, "    client unavailability         upserts %.2fs (from %.2fs), searches %.2fs (from %.2fs): the longest time without a success\n",
		gapU.Seconds(), atU.Sub(d.t0).Seconds(), gapS.Seconds(), atS.Sub(d.t0).Seconds())
	fmt.Fprintf(d.out, "    client errors                 %d upserts, %d searches\n", ufail, sfail)
	fmt.Fprintf(d.out, "    rows acknowledged             %d (%d loaded + %d upserted)\n", len(all), n, len(acked))
	fmt.Fprintf(d.out, "    rows found afterwards         %d acknowledged rows present, %d rows in the collection\n", len(all)-len(missing), count)
	fmt.Fprintf(d.out, "    acknowledged rows lost        %s\n", verdict)
	if len(missing) > 0 {
		fmt.Fprintf(d.out, "    first missing ids             %v\n", missing[:min(10, len(missing))])
	}
	fmt.Fprintln(d.out)

	// Bring the killed node back.
	d.say("restarting %s on its data directory", kill.Node.ID)
	if err := kill.Node.Restart(ctx); err != nil {
		return err
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	st, err = lg.AwaitStatus(wctx, kill.Node.ID+" back as a standby", func(s *arbiter.StatusReport) bool {
		m := localgroup.Member(s, kill.Node.ID)
		return m != nil && m.Role == "standby" && s.Leader == opened.Node.ID
	})
	if err != nil {
		return err
	}
	m := localgroup.Member(st, kill.Node.ID)
	d.say("%s rejoined as a standby of %s (epoch %d), applied LSN %d", kill.Node.ID, st.Leader, st.Epoch, m.AppliedLSN)
	st, err = lg.AwaitStatus(wctx, "a full sync set", localgroup.Settled(3, opened.Epoch))
	if err != nil {
		return err
	}
	d.say("sync set full again: [%s]", strings.Join(st.SyncNodes, " "))
	st, err = lg.AwaitStatus(wctx, "equal state on all three", localgroup.Converged(3))
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range st.Members {
		ids = append(ids, m.NodeID)
	}
	d.say("converged: %s at applied LSN %d with state digest %s on all three", strings.Join(ids, ", "),
		st.Members[0].AppliedLSN, short(st.Members[0].StateDigest))
	fmt.Fprintln(d.out)
	if len(missing) > 0 {
		return fmt.Errorf("%d acknowledged rows lost", len(missing))
	}
	fmt.Fprintf(d.out, "demo OK: %s failed over to %s in %.2fs with no acknowledged row lost (%.1fs in all)\n",
		kill.Node.ID, opened.Node.ID, gapU.Seconds(), time.Since(d.t0).Seconds())

	if d.keep {
		fmt.Fprintln(d.out)
		fmt.Fprintln(d.out, "still running (--keep); Ctrl-C stops everything:")
		fmt.Fprintf(d.out, "  proxy (Milvus gRPC + REST)  %s   /metrics, /status on http://%s\n", proxy.Addr, proxy.HTTPAddr)
		for _, nd := range lg.Nodes {
			fmt.Fprintf(d.out, "  node %-3s                   %s   http://%s\n", nd.ID, nd.Addr, nd.HTTPAddr)
		}
		fmt.Fprintf(d.out, "  arbiter                     %s\n", strings.Join(lg.Endpoints, ","))
		fmt.Fprintf(d.out, "  status:  tandem status --arbiter %s --group %s\n", strings.Join(lg.Endpoints, ","), lg.Group)
		fmt.Fprintf(d.out, "  logs:    %s\n", lg.LogDir())
		<-ctx.Done()
		d.finished = true
		fmt.Fprintln(d.out, "stopping every process")
	}
	return nil
}

var campaignWonRe = regexp.MustCompile(`msg="campaign won"`)

func standbys(st *arbiter.StatusReport) []string {
	var out []string
	for _, m := range st.Members {
		if m.NodeID != st.Leader {
			out = append(out, m.NodeID)
		}
	}
	return out
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// trimErr shortens an SDK error for one line.
func trimErr(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(d):
		return nil
	}
}
