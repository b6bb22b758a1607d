package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/testutil"
)

// proxyServing is the proxy's ready line.
var proxyServing = regexp.MustCompile(`tandem proxy serving".* listen=(\S+) http=(\S+)`)

type proxyProc struct {
	*proc
	Addr, HTTPAddr string
}

func startProxyProc(t *testing.T, name, arbiters string, extra ...string) *proxyProc {
	t.Helper()
	args := append([]string{"proxy", "--group", haGroup, "--arbiter", arbiters,
		"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, extra...)
	p, m := startProc(t, name, proxyServing, args...)
	return &proxyProc{proc: p, Addr: m[1], HTTPAddr: m[2]}
}

// proxyStatus reads the proxy's /status.
func (p *proxyProc) status(t *testing.T) (active string, epoch uint64, switches int64) {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTPAddr + "/status")
	if err != nil {
		t.Fatalf("%s /status: %v", p.name, err)
	}
	defer resp.Body.Close()
	var st struct {
		Active *struct {
			NodeID string `json:"node_id"`
			Epoch  uint64 `json:"epoch"`
		} `json:"active"`
		Switches int64 `json:"switches"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s /status: %v", p.name, err)
	}
	if st.Active == nil {
		return "", 0, st.Switches
	}
	return st.Active.NodeID, st.Active.Epoch, st.Switches
}

func (p *proxyProc) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// opRec is one client call.
type opRec struct {
	kind       string // upsert, search
	start, end time.Time
	err        error
}

// workload runs upserts and searches through one client until stopped,
// recording every call and the ids of acknowledged upserts.
type workload struct {
	name string
	c    *milvusclient.Client
	coll string

	mu    sync.Mutex
	ops   []opRec
	acked []int64 // ids of acknowledged upserts

	// Inserts (ids from insertBase): acknowledged and attempted ids.
	insertBase             int64
	insAcked, insAttempted []int64

	stop chan struct{}
	wg   sync.WaitGroup
}

const proxyDim = 8

func proxyVec(r *rand.Rand) []float32 {
	v := make([]float32, proxyDim)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// insertOffset separates a workload's insert ids from its upsert ids.
const insertOffset = 500_000_000

// startWorkload starts one upsert loop (ids from idBase, 10 rows a call),
// with search one search loop, and with insert one insert loop (ids from
// idBase+insertOffset).
func startWorkload(ctx context.Context, name string, c *milvusclient.Client, coll string, seed uint64, idBase int64, search, insert bool) *workload {
	w := &workload{name: name, c: c, coll: coll, stop: make(chan struct{}), insertBase: idBase + insertOffset}
	if insert {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			r := rand.New(rand.NewPCG(seed, 3))
			next := w.insertBase
			for {
				select {
				case <-w.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				const n = 10
				ids := make([]int64, n)
				vecs := make([][]float32, n)
				for i := range ids {
					ids[i], vecs[i] = next+int64(i), proxyVec(r)
				}
				next += n
				start := time.Now()
				octx, cancel := context.WithTimeout(ctx, 30*time.Second)
				res, err := c.Insert(octx, milvusclient.NewColumnBasedInsertOption(coll).
					WithInt64Column("id", ids).WithFloatVectorColumn("vec", proxyDim, vecs))
				cancel()
				if err == nil && res.InsertCount != n {
					err = fmt.Errorf("insert count %d, want %d", res.InsertCount, n)
				}
				w.mu.Lock()
				w.ops = append(w.ops, opRec{"insert", start, time.Now(), err})
				w.insAttempted = append(w.insAttempted, ids...)
				if err == nil {
					w.insAcked = append(w.insAcked, ids...)
				}
				w.mu.Unlock()
				time.Sleep(2 * time.Millisecond) // pacing
			}
		}()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		r := rand.New(rand.NewPCG(seed, 1))
		next := idBase
		for {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			const n = 10
			ids := make([]int64, n)
			vecs := make([][]float32, n)
			for i := range ids {
				ids[i], vecs[i] = next+int64(i), proxyVec(r)
			}
			next += n
			start := time.Now()
			octx, cancel := context.WithTimeout(ctx, 30*time.Second)
			res, err := c.Upsert(octx, milvusclient.NewColumnBasedInsertOption(coll).
				WithInt64Column("id", ids).WithFloatVectorColumn("vec", proxyDim, vecs))
			cancel()
			if err == nil && res.UpsertCount != n {
				err = fmt.Errorf("upsert count %d, want %d", res.UpsertCount, n)
			}
			w.record(opRec{"upsert", start, time.Now(), err}, ids)
			time.Sleep(2 * time.Millisecond) // pacing
		}
	}()
	if search {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			r := rand.New(rand.NewPCG(seed, 2))
			for {
				select {
				case <-w.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				start := time.Now()
				octx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.Search(octx, milvusclient.NewSearchOption(coll, 5, []entity.Vector{entity.FloatVector(proxyVec(r))}).
					WithANNSField("vec"))
				cancel()
				w.record(opRec{"search", start, time.Now(), err}, nil)
				time.Sleep(2 * time.Millisecond) // pacing
			}
		}()
	}
	return w
}

func (w *workload) record(op opRec, ids []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, op)
	if op.err == nil {
		w.acked = append(w.acked, ids...)
	}
}

// okAfter counts successful calls of kind that started after t.
func (w *workload) okAfter(kind string, t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, op := range w.ops {
		if op.kind == kind && op.err == nil && op.start.After(t) {
			n++
		}
	}
	return n
}

func (w *workload) halt() []opRec {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ops)
}

// longestGap is the longest time without a successful completion of a
// call of kind, between the first and the last one: the unavailability a
// client saw for that kind of call.
func longestGap(ops []opRec, kind string) time.Duration {
	var ends []time.Time
	for _, op := range ops {
		if op.kind == kind && op.err == nil {
			ends = append(ends, op.end)
		}
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(ends); i++ {
		gap = max(gap, ends[i].Sub(ends[i-1]))
	}
	return gap
}

// checkReadable queries every id through c by primary key.
func checkReadable(ctx context.Context, t *testing.T, c *milvusclient.Client, coll string, ids []int64) {
	t.Helper()
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	found := 0
	for i := 0; i < len(ids); i += 1000 {
		chunk := ids[i:min(i+1000, len(ids))]
		parts := make([]string, len(chunk))
		for j, id := range chunk {
			parts[j] = fmt.Sprint(id)
		}
		rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("id in ["+strings.Join(parts, ",")+"]").
			WithOutputFields("id").WithConsistencyLevel(entity.ClStrong))
		if err != nil {
			t.Fatalf("query acknowledged ids: %v", err)
		}
		got := idsOf(t, rs.GetColumn("id"))
		slices.Sort(got)
		if !slices.Equal(got, chunk) {
			missing := 0
			for _, id := range chunk {
				if _, ok := slices.BinarySearch(got, id); !ok {
					missing++
				}
			}
			t.Fatalf("%d of %d acknowledged ids in [%d, %d] are not readable through the proxy", missing, len(chunk), chunk[0], chunk[len(chunk)-1])
		}
		found += len(got)
	}
	t.Logf("all %d acknowledged ids are readable through the proxy", found)
}

// checkInserts reads back w's insert id range: every acknowledged id
// exactly once, no id more than once, no id that was never sent.
func checkInserts(ctx context.Context, t *testing.T, c *milvusclient.Client, coll string, w *workload) {
	t.Helper()
	rs, err := c.Query(ctx, milvusclient.NewQueryOption(coll).
		WithFilter(fmt.Sprintf("id >= %d and id < %d", w.insertBase, w.insertBase+insertOffset)).
		WithOutputFields("id").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatalf("query inserted ids: %v", err)
	}
	seen := map[int64]int{}
	for _, id := range idsOf(t, rs.GetColumn("id")) {
		seen[id]++
	}
	attempted := map[int64]bool{}
	for _, id := range w.insAttempted {
		attempted[id] = true
	}
	for id, n := range seen {
		if n > 1 {
			t.Fatalf("insert of id %d applied %d times", id, n)
		}
		if !attempted[id] {
			t.Fatalf("id %d present but never inserted", id)
		}
	}
	for _, id := range w.insAcked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged insert of id %d not readable", id)
		}
	}
	t.Logf("inserts: %d ids acknowledged, %d attempted, %d present, none twice", len(w.insAcked), len(w.insAttempted), len(seen))
}

// TestProxyFailover: a group of three sync-mode nodes behind two `tandem
// proxy` processes. The Milvus Go SDK, connected only to a proxy, runs
// continuous upserts and searches while the active is SIGKILLed: errors,
// if any, happen only inside the failover window, and every acknowledged
// upsert is readable through the proxy afterwards. Then one proxy is
// SIGKILLed: clients of the other see no error at all; SIGTERM stops the
// other cleanly.
func TestProxyFailover(t *testing.T) {
	ac := startArbiters(t, 1)
	var nodes []*haNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startHANode(t, id, filepath.Join(t.TempDir(), id), ac.Endpoints)) // sync mode: the default
	}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active", oneActive(1))
	active := byID(nodes, st.Leader)
	p1 := startProxyProc(t, "proxy1", ac.Endpoints)
	p2 := startProxyProc(t, "proxy2", ac.Endpoints)
	t.Logf("active %s at epoch %d; proxies at %s and %s", active.ID, st.Epoch, p1.Addr, p2.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c1 := dialClient(t, p1.Addr)
	c2 := dialClient(t, p2.Addr)
	const coll = "proxied"
	schema := entity.NewSchema().WithName(coll).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(proxyDim))
	if err := c1.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema)); err != nil {
		t.Fatalf("create collection through the proxy: %v", err)
	}
	it, err := c1.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewFlatIndex(entity.L2)))
	if err != nil {
		t.Fatalf("create index: %v", err)
	}
	if err := it.Await(ctx); err != nil {
		t.Fatalf("await index: %v", err)
	}
	lt, err := c1.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatalf("await load: %v", err)
	}

	// Phase 1: SIGKILL the active under load through proxy1 (writes and
	// searches) and proxy2 (searches).
	w1 := startWorkload(ctx, "client1", c1, coll, 1, 0, true, true)
	w2 := startWorkload(ctx, "client2", c2, coll, 2, 1_000_000_000, true, false)
	testutil.Eventually(t, 30*time.Second, "warm-up upserts", func() bool {
		return w1.okAfter("upsert", time.Time{}) >= 30 && w2.okAfter("upsert", time.Time{}) >= 30
	})
	old, oldEpoch := active, st.Epoch
	killed := time.Now()
	old.Kill()
	st = awaitStatus(t, ac.Endpoints, 30*time.Second, "a new active", func(s *statusJSON) bool {
		return oneActive(oldEpoch+1)(s) && s.Leader != old.ID
	})
	active = byID(nodes, st.Leader)
	elected := time.Now()
	testutil.Eventually(t, 30*time.Second, "upserts and searches through both proxies after the failover", func() bool {
		return w1.okAfter("upsert", elected) >= 30 && w1.okAfter("search", elected) >= 10 && w1.okAfter("insert", elected) >= 10 &&
			w2.okAfter("upsert", elected) >= 30 && w2.okAfter("search", elected) >= 10
	})
	ops1, ops2 := w1.halt(), w2.halt()
	t.Logf("SIGKILL of %s (epoch %d); %s active at epoch %d, seen by the arbiter after %v",
		old.ID, oldEpoch, active.ID, st.Epoch, elected.Sub(killed).Round(time.Millisecond))

	for _, w := range []struct {
		name string
		ops  []opRec
	}{{"client1 (proxy1)", ops1}, {"client2 (proxy2)", ops2}} {
		// The failover window ends when both an upsert and a search that
		// started after the kill have succeeded.
		var recovered time.Time
		kinds := []string{"upsert", "search"}
		if w.name == "client1 (proxy1)" {
			kinds = append(kinds, "insert")
		}
		for _, kind := range kinds {
			var first time.Time
			for _, op := range w.ops {
				if op.kind == kind && op.err == nil && op.start.After(killed) && (first.IsZero() || op.end.Before(first)) {
					first = op.end
				}
			}
			if first.IsZero() {
				t.Fatalf("%s: no %s succeeded after the kill", w.name, kind)
			}
			if first.After(recovered) {
				recovered = first
			}
		}
		var errs []string
		var slowest time.Duration
		for _, op := range w.ops {
			slowest = max(slowest, op.end.Sub(op.start))
			if op.err == nil {
				continue
			}
			errs = append(errs, fmt.Sprintf("%s [%v..%v after kill]: %v", op.kind,
				op.start.Sub(killed).Round(time.Millisecond), op.end.Sub(killed).Round(time.Millisecond), op.err))
			if op.end.Before(killed) || op.start.After(recovered) {
				t.Errorf("%s: %s failed outside the failover window (window %v..%v after the kill started at %v): %v",
					w.name, op.kind, 0, recovered.Sub(killed).Round(time.Millisecond), op.start.Sub(killed), op.err)
			}
		}
		t.Logf("%s: %d calls, %d client-visible errors; longest time without a successful upsert %v, search %v, insert %v; slowest call %v",
			w.name, len(w.ops), len(errs), longestGap(w.ops, "upsert").Round(time.Millisecond),
			longestGap(w.ops, "search").Round(time.Millisecond), longestGap(w.ops, "insert").Round(time.Millisecond), slowest.Round(time.Millisecond))
		for _, e := range errs {
			t.Logf("  %s error: %s", w.name, e)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// Zero loss (sync mode): every acknowledged upsert is readable.
	checkReadable(ctx, t, c1, coll, append(slices.Clone(w1.acked), w2.acked...))
	// No insert applied twice (Insert keeps duplicates, so a double apply
	// would show), none lost, none invented.
	checkInserts(ctx, t, c1, coll, w1)
	for _, p := range []*proxyProc{p1, p2} {
		node, epoch, switches := p.status(t)
		if node != active.ID || epoch != st.Epoch || switches < 1 {
			t.Fatalf("%s /status: active %q epoch %d switches %d; want %s at %d after >= 1 switch", p.name, node, epoch, switches, active.ID, st.Epoch)
		}
	}
	for _, p := range []*proxyProc{p1, p2} {
		m := p.metrics(t)
		if !strings.Contains(m, fmt.Sprintf(`tandem_proxy_active{addr=%q,node=%q} 1`, active.Addr, active.ID)) {
			t.Fatalf("%s /metrics does not show %s as the active", p.name, active.ID)
		}
		var lines []string
		for _, l := range strings.Split(m, "\n") {
			for _, k := range []string{"tandem_proxy_retried_total", "tandem_proxy_held_total", "tandem_proxy_failed_total", "tandem_proxy_active_switches_total"} {
				if strings.HasPrefix(l, k) {
					lines = append(lines, l)
				}
			}
		}
		t.Logf("%s metrics after the failover:\n  %s", p.name, strings.Join(lines, "\n  "))
	}

	// RESTful v2 on the proxy's client port reaches the new active.
	if r := restCall(t, p2.Addr, "/v2/vectordb/collections/list", map[string]any{}); r.Code != 0 || !strings.Contains(string(r.Data), coll) {
		t.Fatalf("REST through the proxy: %+v", r)
	}

	// Phase 2: SIGKILL proxy1; clients of proxy2 see no error.
	w3 := startWorkload(ctx, "client2-phase2", c2, coll, 3, 2_000_000_000, true, false)
	testutil.Eventually(t, 30*time.Second, "phase 2 warm-up", func() bool { return w3.okAfter("upsert", time.Time{}) >= 20 })
	pkill := time.Now()
	p1.Kill()
	testutil.Eventually(t, 30*time.Second, "calls through proxy2 after proxy1 died", func() bool {
		return w3.okAfter("upsert", pkill) >= 50 && w3.okAfter("search", pkill) >= 20
	})
	ops3 := w3.halt()
	for _, op := range ops3 {
		if op.err != nil {
			t.Errorf("client of proxy2: %s failed %v after proxy1 was killed: %v", op.kind, op.start.Sub(pkill).Round(time.Millisecond), op.err)
		}
	}
	checkReadable(ctx, t, c2, coll, w3.acked)
	t.Logf("proxy1 killed: client of proxy2 made %d calls, none failed", len(ops3))

	// SIGTERM stops proxy2 gracefully (exit status 0).
	p2.Stop()
	if ps := p2.cmd.ProcessState; ps == nil || !ps.Success() {
		t.Fatalf("proxy2 after SIGTERM: %v", ps)
	}
}

// TestProxySwitchover: across a planned switchover, clients of the proxy
// (upserts, inserts, searches) see no error at all: the pause fits in the
// proxy's hold time, writes in flight are acknowledged by the old active
// before it hands over, and nothing acknowledged is lost or doubled.
func TestProxySwitchover(t *testing.T) {
	ac := startArbiters(t, 1)
	var nodes []*haNode
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		nodes = append(nodes, startHANode(t, id, filepath.Join(t.TempDir(), id), ac.Endpoints))
	}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active and a full sync set", func(s *statusJSON) bool {
		return oneActive(1)(s) && len(s.Sync) == 3
	})
	p := startProxyProc(t, "proxy", ac.Endpoints)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := dialClient(t, p.Addr)
	const coll = "switched"
	if err := c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions(coll, proxyDim).WithVectorFieldName("vec").WithAutoID(false)); err != nil {
		t.Fatalf("create collection through the proxy: %v", err)
	}
	w := startWorkload(ctx, "client", c, coll, 3, 0, true, true)
	testutil.Eventually(t, 30*time.Second, "warm-up", func() bool {
		return w.okAfter("upsert", time.Time{}) >= 30 && w.okAfter("insert", time.Time{}) >= 10
	})
	out, err := exec.Command(tandemBin, "switchover", "--arbiter", ac.Endpoints, "--group", haGroup).CombinedOutput()
	if err != nil {
		t.Fatalf("tandem switchover: %v\n%s", err, out)
	}
	switched := time.Now()
	st2 := awaitStatus(t, ac.Endpoints, 30*time.Second, "the new active", oneActive(st.Epoch+1))
	testutil.Eventually(t, 30*time.Second, "load after the switchover", func() bool {
		return w.okAfter("upsert", switched) >= 30 && w.okAfter("insert", switched) >= 10 && w.okAfter("search", switched) >= 10
	})
	ops := w.halt()
	t.Logf("%s; %s active at epoch %d; %d calls, longest time without a successful upsert %v, insert %v, search %v",
		strings.TrimSpace(string(out)), st2.Leader, st2.Epoch, len(ops), longestGap(ops, "upsert").Round(time.Millisecond),
		longestGap(ops, "insert").Round(time.Millisecond), longestGap(ops, "search").Round(time.Millisecond))
	for _, op := range ops {
		if op.err != nil {
			t.Errorf("client saw an error across the switchover: %s [%v after it]: %v", op.kind, op.start.Sub(switched).Round(time.Millisecond), op.err)
		}
	}
	checkReadable(ctx, t, c, coll, slices.Clone(w.acked))
	checkInserts(ctx, t, c, coll, w)
}
