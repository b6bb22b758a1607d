package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/localgroup"
)

const depDim = 32

func depVec(id int64) []float32 {
	r := rand.New(rand.NewSource(id))
	v := make([]float32, depDim)
	for i := range v {
		v[i] = r.Float32()
	}
	return v
}

func startDep(t *testing.T, ctx context.Context, name string, extra ...string) *localgroup.Cluster {
	t.Helper()
	c, err := localgroup.Start(ctx, localgroup.Options{Binary: tandemBin, Group: "g", Nodes: 2, LeaseTTL: 2 * time.Second,
		NodeArgs: append([]string{"--deployment", name, "--cdc-heartbeat", "200ms"}, extra...)})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				if p := n.Proc(); p != nil {
					t.Logf("--- %s/%s log tail:\n%s", name, n.ID, p.Logs(40))
				}
			}
		}
		c.Close()
	})
	return c
}

func leaderAddr(ctx context.Context, c *localgroup.Cluster) (*localgroup.Node, error) {
	st, err := c.AwaitStatus(ctx, "an active", localgroup.OneActive(0))
	if err != nil {
		return nil, err
	}
	n := c.Leader(st)
	if n == nil {
		return nil, fmt.Errorf("no leader")
	}
	return n, nil
}

func depState(ctx context.Context, c *localgroup.Cluster, name string) (*cdc.DeploymentState, error) {
	cl, err := c.Arbiter(ctx)
	if err != nil {
		return nil, err
	}
	return cdc.GetState(ctx, cl, name)
}

// awaitDep polls a deployment's published state until cond holds.
func awaitDep(t *testing.T, ctx context.Context, c *localgroup.Cluster, name, what string, timeout time.Duration, cond func(*cdc.DeploymentState) bool) *cdc.DeploymentState {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *cdc.DeploymentState
	for {
		st, err := depState(ctx, c, name)
		if err == nil && st != nil {
			last = st
			if cond(st) {
				return st
			}
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(last)
			t.Fatalf("%s: waiting for %s: timeout; last state %s", name, what, b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitConverged waits until the alternative applied everything the
// leading deployment has (quiet) and both publish equal data digests.
func awaitDepConverged(t *testing.T, ctx context.Context, lead *localgroup.Cluster, leadName string, alt *localgroup.Cluster, altName string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ls, err1 := depState(ctx, lead, leadName)
		as, err2 := depState(ctx, alt, altName)
		if err1 == nil && err2 == nil && ls != nil && as != nil && ls.DataDigest != "" && as.DataDigest != "" &&
			ls.DataDigestLSN == ls.LastLSN && as.Upstream.Source == leadName && as.Upstream.LSN == ls.LastLSN {
			if ls.DataDigest == as.DataDigest {
				return ls.DataDigest
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ls, _ := depState(ctx, lead, leadName)
	as, _ := depState(ctx, alt, altName)
	lb, _ := json.Marshal(ls)
	ab, _ := json.Marshal(as)
	for _, c := range []*localgroup.Cluster{lead, alt} {
		if st, err := c.Status(ctx); err == nil {
			b, _ := json.Marshal(st)
			t.Logf("group status: %s", b)
		}
	}
	t.Fatalf("not converged:\nleading %s\nalternative %s", lb, ab)
	return ""
}

// writer upserts batches of 10 new rows to whatever target returns,
// recording acknowledged ids.
type writer struct {
	mu      sync.Mutex
	acked   []int64
	ackAt   []time.Time
	errs    int
	lastErr string
	stop    chan struct{}
	done    chan struct{}
}

func startWriter(ctx context.Context, first int64, target func(ctx context.Context) (string, error)) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var cl *milvusclient.Client
		var addr string
		next := first
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			a, err := target(ctx)
			if err == nil && (cl == nil || a != addr) {
				if cl != nil {
					cl.Close(context.Background())
				}
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				cl, err = milvusclient.New(dctx, &milvusclient.ClientConfig{Address: a})
				cancel()
				addr = a
				if err != nil {
					cl = nil
				}
			}
			if err == nil {
				ids := make([]int64, 10)
				vecs := make([][]float32, 10)
				for i := range ids {
					ids[i] = next + int64(i)
					vecs[i] = depVec(ids[i])
				}
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err = cl.Upsert(cctx, milvusclient.NewColumnBasedInsertOption("docs").WithInt64Column("id", ids).WithFloatVectorColumn("vec", depDim, vecs))
				cancel()
				next += 10 // ids are never reused (a failed write may or may not be applied)
				if err == nil {
					w.mu.Lock()
					w.acked = append(w.acked, ids...)
					w.ackAt = append(w.ackAt, time.Now())
					w.mu.Unlock()
					continue
				}
				cl.Close(context.Background())
				cl = nil
			}
			w.mu.Lock()
			w.errs++
			w.lastErr = err.Error()
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) halt() []int64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// awaitAcked waits until the writer has n more acknowledged ids than at
// the call.
func (w *writer) awaitAcked(t *testing.T, ctx context.Context, n int, what string) {
	t.Helper()
	want := w.count() + n
	for dl := time.Now().Add(60 * time.Second); w.count() < want; {
		if time.Now().After(dl) || ctx.Err() != nil {
			w.mu.Lock()
			le := w.lastErr
			w.mu.Unlock()
			t.Fatalf("%s: %d acknowledged ids, want %d; last error %s", what, w.count(), want, le)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func leaderTarget(c *localgroup.Cluster) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := leaderAddr(cctx, c)
		if err != nil {
			return "", err
		}
		return n.Addr, nil
	}
}

func mustClient(t *testing.T, ctx context.Context, c *localgroup.Cluster) *milvusclient.Client {
	t.Helper()
	n, err := leaderAddr(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return dialClient(t, n.Addr)
}

func checkIDs(t *testing.T, ctx context.Context, c *localgroup.Cluster, what string, ids []int64) {
	t.Helper()
	cl := mustClient(t, ctx, c)
	missing, err := localgroup.MissingIDs(ctx, cl, "docs", ids)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(missing) > 0 {
		t.Fatalf("%s: %d of %d acknowledged ids missing, e.g. %v", what, len(missing), len(ids), missing[:min(10, len(missing))])
	}
}

func runTandemOut(t *testing.T, ctx context.Context, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, tandemBin, args...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("tandem %v: %v\n%s%s", args, err, out, stderr)
	}
	return out
}

func TestDeployments(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	localgroup.QuietSDK()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t0 := time.Now()
	east := startDep(t, ctx, "east")
	eastEps := strings.Join(east.Endpoints, ",")
	ec := mustClient(t, ctx, east)
	if err := localgroup.CreateCollection(ctx, ec, "docs", depDim); err != nil {
		t.Fatal(err)
	}
	// History before the alternative exists: served as a snapshot.
	const preRows = 20000
	for lo := int64(1_000_000); lo < 1_000_000+preRows; lo += 2000 {
		ids := make([]int64, 2000)
		vecs := make([][]float32, 2000)
		for i := range ids {
			ids[i] = lo + int64(i)
			vecs[i] = depVec(ids[i])
		}
		if _, err := ec.Insert(ctx, milvusclient.NewColumnBasedInsertOption("docs").WithInt64Column("id", ids).WithFloatVectorColumn("vec", depDim, vecs)); err != nil {
			t.Fatal(err)
		}
	}
	est := awaitDep(t, ctx, east, "east", "leading state", 30*time.Second, func(s *cdc.DeploymentState) bool { return s.Role == cdc.RoleLeading })
	_ = est
	snapStart := time.Now()
	west := startDep(t, ctx, "west", "--alternative-of", eastEps, "--leading-deployment", "east")
	ls, _ := depState(ctx, east, "east")
	wst := awaitDep(t, ctx, west, "west", "snapshot applied", 60*time.Second, func(s *cdc.DeploymentState) bool {
		return s.Upstream.Source == "east" && s.Upstream.LSN >= ls.LastLSN
	})
	snapDur := time.Since(snapStart)
	snapBytes := float64(preRows * (depDim*4 + 8))
	t.Logf("MEASURE snapshot catch-up (incl. west startup): %d rows in %v = %.0f rows/s, %.1f MB/s (raw row bytes); subscription %+v",
		preRows, snapDur, preRows/snapDur.Seconds(), snapBytes/snapDur.Seconds()/1e6, wst.Subscription)
	awaitDepConverged(t, ctx, east, "east", west, "west")
	t.Logf("step converged after snapshot at %v", time.Since(t0))

	// Reads served on the alternative; writes refused with a clear status.
	wc := mustClient(t, ctx, west)
	if n, err := localgroup.CountRows(ctx, wc, "docs"); err != nil || n != preRows {
		t.Fatalf("alternative count = %d, %v; want %d", n, err, preRows)
	}
	if _, err := wc.Search(ctx, milvusclient.NewSearchOption("docs", 5, []entity.Vector{entity.FloatVector(depVec(1_000_007))})); err != nil {
		t.Fatalf("search on the alternative: %v", err)
	}
	_, err := wc.Insert(ctx, milvusclient.NewColumnBasedInsertOption("docs").WithInt64Column("id", []int64{1}).WithFloatVectorColumn("vec", depDim, [][]float32{depVec(1)}))
	if err == nil || !strings.Contains(err.Error(), "read-only alternative") {
		t.Fatalf("write on the alternative: %v", err)
	}
	t.Logf("write on the alternative refused: %v", err)

	// Steady-state lag: a write acknowledged by east, then polled on west.
	var lags []time.Duration
	for i := int64(0); i < 150; i++ {
		id := 2_000_000 + i
		if _, err := ec.Upsert(ctx, milvusclient.NewColumnBasedInsertOption("docs").WithInt64Column("id", []int64{id}).WithFloatVectorColumn("vec", depDim, [][]float32{depVec(id)})); err != nil {
			t.Fatal(err)
		}
		acked := time.Now()
		for {
			rs, err := wc.Get(ctx, milvusclient.NewQueryOption("docs").WithIDs(column.NewColumnInt64("id", []int64{id})))
			if err == nil && rs.ResultCount == 1 {
				break
			}
			if time.Since(acked) > 10*time.Second {
				t.Fatalf("id %d not visible on west after 10s", id)
			}
			time.Sleep(time.Millisecond)
		}
		lags = append(lags, time.Since(acked))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("MEASURE steady-state lag (ack on east -> visible on west, sequential writes): p50 %v p99 %v max %v",
		localgroup.PercentileSorted(lags, 50), localgroup.PercentileSorted(lags, 99), lags[len(lags)-1])

	// The leading group's active is SIGKILLed mid-stream.
	w := startWriter(ctx, 3_000_000, leaderTarget(east))
	w.awaitAcked(t, ctx, 200, "writes on east before its active is killed")
	ek, err := east.KillLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Sync mode with 2 nodes: writes resume once the killed node is back
	// as a standby.
	if err := ek.Node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	killed := w.count()
	for dl := time.Now().Add(30 * time.Second); w.count() < killed+200; {
		if time.Now().After(dl) {
			w.mu.Lock()
			le := w.lastErr
			w.mu.Unlock()
			st, _ := east.Status(ctx)
			b, _ := json.Marshal(st)
			t.Fatalf("writes did not resume on east after its active was killed: last error %s; status %s", le, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	acked := w.halt()
	awaitDepConverged(t, ctx, east, "east", west, "west")
	checkIDs(t, ctx, west, "west after east's active was killed", acked)
	ws, _ := depState(ctx, west, "west")
	if ws.Subscription == nil || ws.Subscription.Connects < 2 {
		t.Fatalf("west's subscription did not reconnect: %+v", ws.Subscription)
	}
	t.Logf("step leading active killed: %d acked ids on west, subscription %+v (at %v)", len(acked), ws.Subscription, time.Since(t0))

	// The alternative's active is SIGKILLed: its new active resumes.
	w = startWriter(ctx, 4_000_000, leaderTarget(east))
	w.awaitAcked(t, ctx, 200, "writes on east before west's active is killed")
	wk, err := west.KillLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	westKilled := time.Now()
	if err := wk.Node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Writes go on while west's new active takes over the subscription.
	awaitDep(t, ctx, west, "west", "subscription resumed by a new active", 60*time.Second, func(s *cdc.DeploymentState) bool {
		return s.Updated.After(westKilled) && s.Subscription != nil && s.Subscription.State == "streaming"
	})
	w.awaitAcked(t, ctx, 200, "writes on east after west's active was killed")
	acked = w.halt()
	awaitDepConverged(t, ctx, east, "east", west, "west")
	checkIDs(t, ctx, west, "west after its active was killed", acked)
	// A new west active (possibly the restarted node itself, at a higher
	// epoch) resumed the subscription: the group's epoch moved on.
	if wst, err := west.Status(ctx); err != nil || wst.Epoch <= wk.Epoch {
		t.Fatalf("west epoch after its active was killed: %+v, %v (killed at epoch %d)", wst, err, wk.Epoch)
	}
	ws, _ = depState(ctx, west, "west")
	t.Logf("step alternative active killed: new west active %s resumed, %d acked ids (at %v)", ws.Node, len(acked), time.Since(t0))

	// A stalled stream shows rising lag: pause east's active.
	en, _ := leaderAddr(ctx, east)
	stallAt := time.Now()
	if err := en.Stop(); err != nil {
		t.Fatal(err)
	}
	st := awaitDep(t, ctx, west, "west", "lag > 1s", 10*time.Second, func(s *cdc.DeploymentState) bool {
		return s.Subscription != nil && s.Subscription.LagSeconds > 1
	})
	t.Logf("MEASURE stall: west reports lag %.2fs %v after pausing east's active (lag_records %d)", st.Subscription.LagSeconds, time.Since(stallAt), st.Subscription.LagRecords)
	if err := en.Cont(); err != nil {
		t.Fatal(err)
	}
	awaitDepConverged(t, ctx, east, "east", west, "west")
	awaitDep(t, ctx, west, "west", "lag back to ~0", 30*time.Second, func(s *cdc.DeploymentState) bool {
		return s.Subscription != nil && s.Subscription.LagSeconds < 0.5
	})

	// Planned switchover under load: nothing lost, the stream reverses.
	var curMu sync.Mutex
	cur := east
	w = startWriter(ctx, 5_000_000, func(ctx context.Context) (string, error) {
		curMu.Lock()
		c := cur
		curMu.Unlock()
		return leaderTarget(c)(ctx)
	})
	w.awaitAcked(t, ctx, 100, "writes on east before the switchover")
	// Writes refused by east during the switchover move to west.
	go func() {
		for ctx.Err() == nil {
			w.mu.Lock()
			le := w.lastErr
			w.mu.Unlock()
			if strings.Contains(le, "read-only alternative") || strings.Contains(le, "handing the leading role") {
				st, err := depState(ctx, west, "west")
				if err == nil && st != nil && st.Role == cdc.RoleLeading {
					curMu.Lock()
					cur = west
					curMu.Unlock()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	out := runTandemOut(t, ctx, "deployment", "switchover", "--leading-arbiter", eastEps, "--alternative-arbiter", strings.Join(west.Endpoints, ","))
	t.Logf("MEASURE switchover: %s", strings.TrimSpace(string(out)))
	for dl := time.Now().Add(30 * time.Second); ; {
		curMu.Lock()
		switched := cur == west
		curMu.Unlock()
		if switched {
			break
		}
		if time.Now().After(dl) {
			t.Fatalf("the writer never moved to west")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.awaitAcked(t, ctx, 200, "writes on west after the switchover")
	w.mu.Lock()
	var gap time.Duration
	for i := 1; i < len(w.ackAt); i++ {
		gap = max(gap, w.ackAt[i].Sub(w.ackAt[i-1]))
	}
	w.mu.Unlock()
	acked = w.halt()
	curMu.Lock()
	switched := cur == west
	curMu.Unlock()
	if !switched {
		t.Fatalf("the writer never moved to west")
	}
	t.Logf("MEASURE switchover: longest gap between acknowledged writes of the client %v", gap)
	awaitDepConverged(t, ctx, west, "west", east, "east")
	checkIDs(t, ctx, west, "west (new leading) after the switchover", acked)
	checkIDs(t, ctx, east, "east (new alternative) after the switchover", acked)
	t.Logf("step switchover: %d acked ids on both (at %v)", len(acked), time.Since(t0))

	// cdc tail: the change stream as JSON lines, for other consumers.
	westEps := strings.Join(west.Endpoints, ",")
	tail := runTandemOut(t, ctx, "cdc", "tail", "--arbiter", westEps, "--group", "g", "--from", "", "--limit", "5")
	sc := bufio.NewScanner(strings.NewReader(string(tail)))
	sc.Buffer(nil, 64<<20)
	var lines int
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("cdc tail line: %v", err)
		}
		lines++
	}
	if lines != 5 {
		t.Fatalf("cdc tail printed %d lines", lines)
	}

	// Unplanned failover: freeze the alternative (east), write more to
	// west, kill west, promote east; west rejoins and exports the loss.
	awaitDepConverged(t, ctx, west, "west", east, "east")
	for _, n := range east.Nodes {
		n.Stop()
	}
	wcl := mustClient(t, ctx, west)
	// Enough data that part of it is still on west, not in flight to
	// east's sockets, when west dies.
	var written []int64
	for i := int64(0); i < 40; i++ {
		ids := make([]int64, 1000)
		vecs := make([][]float32, 1000)
		for j := range ids {
			ids[j] = 6_000_000 + i*1000 + int64(j)
			vecs[j] = depVec(ids[j])
		}
		if _, err := wcl.Upsert(ctx, milvusclient.NewColumnBasedInsertOption("docs").WithInt64Column("id", ids).WithFloatVectorColumn("vec", depDim, vecs)); err != nil {
			t.Fatal(err)
		}
		written = append(written, ids...)
	}
	for _, n := range west.Nodes {
		n.Kill()
	}
	for _, n := range east.Nodes {
		n.Cont()
	}
	out = runTandemOut(t, ctx, "deployment", "failover", "--alternative-arbiter", eastEps)
	t.Logf("failover: %s", strings.TrimSpace(string(out)))
	var frep struct {
		LastReplicated struct{ LSN uint64 } `json:"last_replicated"`
		OldLeadingTold bool                 `json:"old_leading_told"`
		Fence          string               `json:"fence"`
	}
	// West's arbiter answers but none of its nodes: fenced by the bound.
	if err := json.Unmarshal(out, &frep); err != nil || !frep.OldLeadingTold || frep.Fence != "bound-passed" {
		t.Fatalf("failover report: %s (%v)", out, err)
	}
	// The lost writes are not on east; east takes writes.
	ecl := mustClient(t, ctx, east)
	lost, err := localgroup.MissingIDs(ctx, ecl, "docs", written)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: %d of the %d rows written while east was frozen reached it before west died; %d lost", len(written)-len(lost), len(written), len(lost))
	w = startWriter(ctx, 7_000_000, leaderTarget(east))
	w.awaitAcked(t, ctx, 50, "writes on east after the failover")
	for _, n := range west.Nodes {
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	awaitDep(t, ctx, west, "west", "rejoined as the alternative", 60*time.Second, func(s *cdc.DeploymentState) bool {
		return s.Role == cdc.RoleAlternative && s.Subscription != nil && s.Upstream.Source == "east"
	})
	w.awaitAcked(t, ctx, 50, "writes on east while west rejoins")
	acked = w.halt()
	awaitDepConverged(t, ctx, east, "east", west, "west")
	checkIDs(t, ctx, west, "west (rejoined) after the failover", acked)
	// diverged/ holds exactly the lost records.
	var exported []int64
	var files []string
	for _, n := range west.Nodes {
		m, _ := filepath.Glob(filepath.Join(n.DataDir, "diverged", "deployment-failover-*.jsonl"))
		files = append(files, m...)
	}
	if len(files) != 1 {
		t.Fatalf("diverged exports: %v", files)
	}
	f, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		var rec struct {
			LSN    uint64 `json:"lsn"`
			Type   string `json:"type"`
			Record struct {
				Rows    int                  `json:"rows"`
				Columns map[string][]float64 `json:"columns"`
			} `json:"record"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.LSN <= frep.LastReplicated.LSN {
			t.Fatalf("exported lsn %d within the replicated range (<= %d)", rec.LSN, frep.LastReplicated.LSN)
		}
		if rec.Type != "upsert" {
			t.Fatalf("unexpected exported record type %s", rec.Type)
		}
		for _, col := range rec.Record.Columns {
			if len(col) == rec.Record.Rows { // the primary key (the vector column has rows*dim)
				for _, v := range col {
					exported = append(exported, int64(v))
				}
			}
		}
	}
	slices.Sort(exported)
	slices.Sort(lost)
	if !slices.Equal(exported, lost) {
		t.Fatalf("diverged export holds ids %v, want exactly the lost %v", exported, lost)
	}
	t.Logf("step failover: loss window after lsn %d = %d rows, exported to %s; west rejoined (at %v)", frep.LastReplicated.LSN, len(lost), files[0], time.Since(t0))
}
