package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// ackLog records the batches a writer had acknowledged, and when.
type ackLog struct {
	mu      sync.Mutex
	acked   []int // batch numbers, in order
	at      []time.Time
	failed  int
	changed chan struct{}
}

func newAckLog() *ackLog { return &ackLog{changed: make(chan struct{})} }

func (a *ackLog) add(batch int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.acked = append(a.acked, batch)
		a.at = append(a.at, time.Now())
	} else {
		a.failed++
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

// await waits until n batches are acknowledged (bounded).
func (a *ackLog) await(t *testing.T, n int, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		got, ch := len(a.acked), a.changed
		a.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: %d of %d batches acknowledged after %v", what, got, n, timeout)
		}
	}
}

// gapAfter is the longest time without an acknowledgement from t0 until
// the first acknowledgement after it.
func (a *ackLog) gapAfter(t0 time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.at {
		if at.After(t0) {
			return at.Sub(t0)
		}
	}
	return -1
}

const rowsPerBatch = 20

// groupWriter upserts batch after batch of new rows (ids batch*20 ...)
// into collection "c" of whichever node the arbiter shows as the leader,
// re-resolving the leader after an error, until stop closes.
func groupWriter(t *testing.T, arbiters string, log *ackLog, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var c *milvusclient.Client
	var addr string
	for batch := 0; ; batch++ {
		select {
		case <-stop:
			if c != nil {
				c.Close(context.Background())
			}
			return
		default:
		}
		if c == nil {
			st, err := groupStatus(arbiters)
			if err != nil || st.Leader == "" {
				log.add(batch, false)
				time.Sleep(50 * time.Millisecond) // client retry pacing
				continue
			}
			for _, m := range st.Members {
				if m.NodeID == st.Leader {
					addr = m.Addr
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			c, err = milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr})
			cancel()
			if err != nil {
				c = nil
				log.add(batch, false)
				time.Sleep(50 * time.Millisecond) // client retry pacing
				continue
			}
		}
		ids := make([]int64, rowsPerBatch)
		vecs := make([][]float32, rowsPerBatch)
		for i := range ids {
			ids[i] = int64(batch*rowsPerBatch + i)
			vecs[i] = []float32{float32(batch), float32(i), 1, 0}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := c.Upsert(ctx, milvusclient.NewColumnBasedInsertOption("c").
			WithInt64Column("id", ids).WithFloatVectorColumn("vector", 4, vecs))
		cancel()
		log.add(batch, err == nil)
		if err != nil {
			c.Close(context.Background())
			c = nil
			time.Sleep(50 * time.Millisecond) // client retry pacing
		}
	}
}

// checkAcked verifies that every acknowledged batch is fully present on
// the node at addr, and returns the number of rows there.
func checkAcked(t *testing.T, addr string, log *ackLog) int {
	t.Helper()
	c := dialClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	present := map[int64]bool{}
	const window = 10000
	log.mu.Lock()
	maxBatch := 0
	for _, b := range log.acked {
		maxBatch = max(maxBatch, b)
	}
	acked := append([]int(nil), log.acked...)
	log.mu.Unlock()
	for lo := 0; lo <= (maxBatch+1)*rowsPerBatch; lo += window {
		rs, err := c.Query(ctx, milvusclient.NewQueryOption("c").
			WithFilter(fmt.Sprintf("id >= %d and id < %d", lo, lo+window)).
			WithOutputFields("id").WithLimit(window))
		if err != nil {
			t.Fatalf("query ids on %s: %v", addr, err)
		}
		col := rs.GetColumn("id")
		for i := 0; i < rs.ResultCount; i++ {
			v, err := col.GetAsInt64(i)
			if err != nil {
				t.Fatal(err)
			}
			present[v] = true
		}
	}
	for _, b := range acked {
		for i := 0; i < rowsPerBatch; i++ {
			if id := int64(b*rowsPerBatch + i); !present[id] {
				t.Fatalf("acknowledged row %d (batch %d) is missing on %s", id, b, addr)
			}
		}
	}
	return len(present)
}

// awaitConverged waits until every node is live in the group status with
// the same applied LSN and the same state digest at it.
func awaitConverged(t *testing.T, arbiters string, n int) *statusJSON {
	t.Helper()
	return awaitStatus(t, arbiters, 60*time.Second, "all members converged (equal applied LSN and state digest)", func(st *statusJSON) bool {
		if len(st.Members) != n || st.Leader == "" {
			return false
		}
		m0 := st.Members[0]
		for _, m := range st.Members {
			if m.Digest == "" || m.DigestLSN != m.AppliedLSN || m.AppliedLSN != m0.AppliedLSN || m.Digest != m0.Digest {
				return false
			}
		}
		return true
	})
}

// TestReplicatedFailoverKeepsAckedWrites: three `tandem node`s in sync
// mode (the default) and the official SDK upserting continuously through
// whichever node is the active. SIGKILL the active, then SIGSTOP the next
// one beyond the lease TTL: each time a new active takes over, every
// acknowledged row is on it, and the killed and the resumed nodes come
// back as standbys whose state converges to the active's (equal applied
// LSN and state digest in `tandem status --json`).
func TestReplicatedFailoverKeepsAckedWrites(t *testing.T) {
	ac := startArbiters(t, 1)
	var nodes []*haNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startHANode(t, id, filepath.Join(t.TempDir(), id), ac.Endpoints))
	}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active and a full sync set", func(st *statusJSON) bool {
		return oneActive(1)(st) && len(st.Sync) == 3
	})
	c := dialClient(t, byID(nodes, st.Leader).Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Quick setup: id (int64, not auto) + vector, indexed and loaded before
	// any failover — the index and the load state are replicated too.
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}

	log := newAckLog()
	stop, done := make(chan struct{}), make(chan struct{})
	go groupWriter(t, ac.Endpoints, log, stop, done)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	log.await(t, 50, 30*time.Second, "before the first failure")

	// SIGKILL the active.
	victim := byID(nodes, st.Leader)
	marks := map[string]int{}
	for _, n := range nodes {
		marks[n.ID] = n.NumLines()
	}
	killedAt := time.Now()
	victim.Kill()
	st = awaitStatus(t, ac.Endpoints, 30*time.Second, "a new active after SIGKILL", func(s *statusJSON) bool {
		return oneActive(st.Epoch+1)(s) && s.Leader != victim.ID
	})
	// The killed process's peer port refuses connections: a standby of the
	// sync set ends its lease at once rather than after the TTL (a SIGSTOP
	// below keeps the port open and so goes the TTL's way).
	ended := false
	for deadline := time.Now().Add(20 * time.Second); !ended && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, o := range nodes {
			if o == victim {
				continue
			}
			if _, _, _, err := o.WaitLine(regexp.MustCompile(`ended its lease early`), marks[o.ID], 0); err == nil {
				ended = true
			}
		}
	}
	if !ended {
		t.Errorf("no standby ended the killed active's lease early (--end-dead-active-lease is on by default)")
	}
	n := log.count()
	log.await(t, n+50, 30*time.Second, "after SIGKILL")
	t.Logf("SIGKILL %s: %s active at epoch %d; writes acknowledged again %v after the kill", victim.ID, st.Leader, st.Epoch, log.gapAfter(killedAt))
	if nl := byID(nodes, st.Leader); nl != nil {
		for _, re := range []string{`"campaign won"`, `"writes open"`, `"sync set written"`, `"sync set: standby joined"`} {
			if _, _, at, err := nl.WaitLine(regexp.MustCompile(re), marks[nl.ID], 0); err == nil {
				t.Logf("  %s %s at +%v", nl.ID, re, at.Sub(killedAt).Round(time.Millisecond))
			}
		}
	}
	rows := checkAcked(t, byID(nodes, st.Leader).Addr, log)
	t.Logf("all %d acknowledged batches present on %s (%d rows)", log.count(), st.Leader, rows)
	restarted := startHANode(t, victim.ID, victim.dir, ac.Endpoints)
	*victim = *restarted

	// SIGSTOP the new active beyond the TTL, then resume it.
	zombie := byID(nodes, st.Leader)
	zmark := zombie.NumLines()
	stoppedAt := time.Now()
	zombie.cmd.Process.Signal(syscall.SIGSTOP)
	st = awaitStatus(t, ac.Endpoints, 30*time.Second, "a new active while the old one is stopped", func(s *statusJSON) bool {
		return oneActive(st.Epoch+1)(s) && s.Leader != zombie.ID
	})
	n = log.count()
	log.await(t, n+50, 30*time.Second, "after SIGSTOP")
	t.Logf("SIGSTOP %s: %s active at epoch %d; writes acknowledged again %v after the stop", zombie.ID, st.Leader, st.Epoch, log.gapAfter(stoppedAt))
	zombie.cmd.Process.Signal(syscall.SIGCONT)
	if _, _, _, err := zombie.WaitLine(regexp.MustCompile(`"role change".* to=standby`), zmark, 20*time.Second); err != nil {
		t.Fatalf("resumed %s did not become a standby: %v", zombie.ID, err)
	}
	n = log.count()
	log.await(t, n+20, 30*time.Second, "after the resume")
	close(stop)
	<-done
	rows = checkAcked(t, byID(nodes, st.Leader).Addr, log)
	t.Logf("%d batches acknowledged, %d failed attempts; all acknowledged rows present on %s (%d rows)", log.count(), log.failed, st.Leader, rows)
	final := awaitConverged(t, ac.Endpoints, 3)
	t.Logf("converged: applied lsn %d, digest %s on all three", final.Members[0].AppliedLSN, final.Members[0].Digest[:12])
}

// TestSwitchoverAndForcedPromotion: `tandem switchover` under continuous
// upserts hands the active role over with no acknowledged write lost; and
// when no member of the sync set is alive, no node is promoted until an
// operator runs `tandem promote --force`, which warns about the loss
// window.
func TestSwitchoverAndForcedPromotion(t *testing.T) {
	ac := startArbiters(t, 1)
	var nodes []*haNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startHANode(t, id, filepath.Join(t.TempDir(), id), ac.Endpoints, "--sync-timeout", "300ms"))
	}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active and a full sync set", func(st *statusJSON) bool {
		return oneActive(1)(st) && len(st.Sync) == 3
	})
	c := dialClient(t, byID(nodes, st.Leader).Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("c", 4).WithAutoID(false)); err != nil {
		t.Fatal(err)
	}
	log := newAckLog()
	stop, done := make(chan struct{}), make(chan struct{})
	go groupWriter(t, ac.Endpoints, log, stop, done)
	log.await(t, 30, 30*time.Second, "before the switchover")

	out, err := exec.Command(tandemBin, "switchover", "--arbiter", ac.Endpoints, "--group", haGroup, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("tandem switchover: %v\n%s", err, out)
	}
	var res struct {
		From, To         string
		FromEpoch, Epoch uint64
		PausedMs         float64 `json:"paused_ms"`
		TotalMs          float64 `json:"total_ms"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("switchover output %q: %v", out, err)
	}
	if res.From != st.Leader || res.Epoch != st.Epoch+1 || res.To == "" || res.To == res.From {
		t.Fatalf("switchover result %+v (leader was %s at epoch %d)", res, st.Leader, st.Epoch)
	}
	switchedAt := time.Now()
	n := log.count()
	log.await(t, n+30, 30*time.Second, "after the switchover")
	close(stop)
	<-done
	t.Logf("switchover %s -> %s: writes paused on the old active %.1f ms, new active reported after %.1f ms; %d failed writer attempts",
		res.From, res.To, res.PausedMs, res.TotalMs, log.failed)
	_ = switchedAt
	checkAcked(t, byID(nodes, res.To).Addr, log)

	// Lose the sync set: stop the standby that is not the old active, write
	// until it is dropped, then kill both members of the set.
	st = awaitStatus(t, ac.Endpoints, 30*time.Second, "the old active back in the sync set", func(s *statusJSON) bool {
		return s.Leader == res.To && len(s.Sync) == 3
	})
	var outside *haNode
	for _, nd := range nodes {
		if nd.ID != res.From && nd.ID != res.To {
			outside = nd
		}
	}
	outside.Kill()
	ca := dialClient(t, byID(nodes, res.To).Addr)
	for i := 0; ; i++ {
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := ca.Upsert(wctx, milvusclient.NewRowBasedInsertOption("c", map[string]any{"id": int64(1_000_000 + i), "vector": []float32{1, 2, 3, 4}}))
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
		if s, err := groupStatus(ac.Endpoints); err == nil && len(s.Sync) == 2 {
			break
		}
	}
	byID(nodes, res.To).Kill()
	byID(nodes, res.From).Kill()
	restarted := startHANode(t, outside.ID, outside.dir, ac.Endpoints)
	// It must not be promoted on its own: it lacks acknowledged writes.
	if _, _, _, err := restarted.WaitLine(writesOpen, 0, 3*time.Second); err == nil {
		t.Fatalf("%s, outside the sync set, opened writes on its own", outside.ID)
	}
	pout, err := exec.Command(tandemBin, "promote", "--force", outside.ID, "--arbiter", ac.Endpoints, "--group", haGroup).CombinedOutput()
	if err != nil {
		t.Fatalf("tandem promote --force: %v\n%s", err, pout)
	}
	if !strings.Contains(string(pout), "WARNING") || !strings.Contains(string(pout), "LOST") {
		t.Fatalf("promote --force printed no loss warning:\n%s", pout)
	}
	awaitStatus(t, ac.Endpoints, 30*time.Second, "the forced node active", func(s *statusJSON) bool {
		return oneActive(1)(s) && s.Leader == outside.ID
	})
	t.Logf("promote --force output:\n%s", pout)
}
