package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/testutil"
)

func refusalResult(active string) *milvuspb.MutationResult {
	return &milvuspb.MutationResult{Status: merr.Status(merr.Wrapf(merr.ErrServiceUnavailable,
		"node a is standby; the active is b at %s", active))}
}

func notAckedResult() *milvuspb.MutationResult {
	return &milvuspb.MutationResult{Status: merr.Status(merr.Wrapf(merr.ErrServiceUnavailable,
		"write at lsn 9 is durable on this node but NOT acknowledged: sync mode needs 1 standby(s) to have it durable: context deadline exceeded"))}
}

// TestForwardPassesThrough: requests reach the active with the client's
// metadata; responses, headers and trailers come back unchanged; a change
// of leader moves traffic; non-Milvus services are forwarded too.
func TestForwardPassesThrough(t *testing.T) {
	name, g := testGroup(t)
	a := startFakeNode(t, "a", nil)
	a.search = func(ctx context.Context, r *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
		grpc.SetHeader(ctx, metadata.Pairs("x-node-header", "a"))
		grpc.SetTrailer(ctx, metadata.Pairs("x-node-trailer", "a"))
		return &milvuspb.SearchResults{CollectionName: r.GetCollectionName() + "@a", Status: merr.Status(merr.CollectionNotFound("zz"))}, nil
	}
	b := startFakeNode(t, "b", nil)
	la := lead(t, g, "a", a.addr)
	p := startProxy(t, name, nil)
	awaitActive(t, p, "a")
	c, cc := dialProxy(t, p)

	ctx := metadata.AppendToOutgoingContext(ctxT(t, 10*time.Second), "authorization", "dXNlcjpwYXNz", "dbname", "db1", "identifier", "42")
	var hdr, trl metadata.MD
	r, err := c.Search(ctx, &milvuspb.SearchRequest{CollectionName: "coll"}, grpc.Header(&hdr), grpc.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetCollectionName() != "coll@a" || r.GetStatus().GetCode() != merr.ErrCollectionNotFound.Code {
		t.Fatalf("search response %v", r)
	}
	if hdr.Get("x-node-header")[0] != "a" || trl.Get("x-node-trailer")[0] != "a" {
		t.Fatalf("header %v trailer %v", hdr, trl)
	}
	md := a.lastMD()
	for k, v := range map[string]string{"authorization": "dXNlcjpwYXNz", "dbname": "db1", "identifier": "42"} {
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			t.Fatalf("node saw %s=%v, want %s (md %v)", k, got, v, md)
		}
	}

	// The leader moves to b: so does the traffic.
	la.resign(t)
	lead(t, g, "b", b.addr)
	awaitActive(t, p, "b")
	if r, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{}); err != nil || r.GetCollectionNames()[0] != "b" {
		t.Fatalf("after the switch: %v %v", r, err)
	}
	if st := p.Status(); st.Active == nil || st.Active.NodeID != "b" || st.Switches != 1 {
		t.Fatalf("status %+v", st)
	}

	// Another service (grpc health) is forwarded as a stream.
	hr, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health through the proxy: %v %v", hr, err)
	}
	// Unimplemented methods come back as the node's own error.
	if _, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("unimplemented method: %v", err)
	}
}

// TestHoldWithoutActive: without an active a request is held for Hold,
// then fails with Unavailable naming the group; a shorter client deadline
// wins; an active appearing during the hold serves the held request.
func TestHoldWithoutActive(t *testing.T) {
	name, g := testGroup(t)
	p := startProxy(t, name, func(c *Config) { c.Hold = 400 * time.Millisecond })
	c, _ := dialProxy(t, p)

	t0 := time.Now()
	_, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{CollectionName: "c"})
	held := time.Since(t0)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "no active in group "+name) {
		t.Fatalf("err = %v, want Unavailable naming the group", err)
	}
	if held < 400*time.Millisecond || held > 3*time.Second {
		t.Fatalf("held %v, want about 400ms", held)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = c.Search(ctx, &milvuspb.SearchRequest{})
	// The hold ends at the client's deadline: the client sees its own
	// deadline or the proxy's "no active" answer, whichever lands first,
	// and promptly.
	if c := status.Code(err); (c != codes.DeadlineExceeded && c != codes.Unavailable) || time.Since(t0) > 350*time.Millisecond {
		t.Fatalf("short deadline: %v after %v", err, time.Since(t0))
	}

	// An active appears while the request is held.
	p2 := startProxy(t, name, func(c *Config) { c.Hold = 5 * time.Second })
	c2, _ := dialProxy(t, p2)
	a := startFakeNode(t, "a", nil)
	errc := make(chan error, 1)
	go func() {
		r, err := c2.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{CollectionName: "c", NumRows: 3})
		if err == nil && r.GetInsertCnt() != 3 {
			err = fmt.Errorf("insert count %d", r.GetInsertCnt())
		}
		errc <- err
	}()
	testutil.Eventually(t, 30*time.Second, "p2.m.held Insert > 0", func() bool { return testutilCounter(p2.m.held.WithLabelValues("Insert")) > 0 })
	lead(t, g, "a", a.addr)
	if err := <-errc; err != nil {
		t.Fatalf("held insert: %v", err)
	}
	if a.count("Insert") != 1 {
		t.Fatalf("node applied %d inserts", a.count("Insert"))
	}
}

// TestInsertRetriedOnlyWhenNotApplied: a refusal or a failed connection is
// retried (the insert is applied once, by the real active); a call that
// broke after reaching the node, or a write durable but not acknowledged,
// is not, and the client is told it may have been applied (not with
// Unavailable, which SDKs retry by themselves).
func TestInsertRetriedOnlyWhenNotApplied(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		name, g := testGroup(t)
		b := startFakeNode(t, "b", nil)
		a := startFakeNode(t, "a", func(n *fakeNode) {
			n.insert = func(context.Context, *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
				return refusalResult(b.addr), nil
			}
		})
		la := lead(t, g, "a", a.addr)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		errc := make(chan error, 1)
		go func() {
			r, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{NumRows: 2})
			if err == nil && (r.GetStatus().GetCode() != 0 || r.GetInsertCnt() != 2) {
				err = fmt.Errorf("response %v", r)
			}
			errc <- err
		}()
		testutil.Eventually(t, 30*time.Second, "a.count Insert >= 2", func() bool { return a.count("Insert") >= 2 })
		la.resign(t)
		lead(t, g, "b", b.addr)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if a.count("Insert") < 2 || b.count("Insert") != 1 {
			t.Fatalf("a refused %d times, b applied %d", a.count("Insert"), b.count("Insert"))
		}
	})

	t.Run("not connected", func(t *testing.T) {
		name, g := testGroup(t)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := l.Addr().String()
		l.Close() // nothing listens there: connection refused
		b := startFakeNode(t, "b", nil)
		la := lead(t, g, "dead", dead)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "dead")
		c, _ := dialProxy(t, p)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{NumRows: 1})
			errc <- err
		}()
		testutil.Eventually(t, 30*time.Second, "p.m.retried Insert, not_connected >= 2", func() bool { return testutilCounter(p.m.retried.WithLabelValues("Insert", "not_connected")) >= 2 })
		la.resign(t)
		lead(t, g, "b", b.addr)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if b.count("Insert") != 1 {
			t.Fatalf("b applied %d inserts", b.count("Insert"))
		}
	})

	t.Run("broken after sending: re-sent with the same request id to the next active", func(t *testing.T) {
		name, g := testGroup(t)
		b := startFakeNode(t, "b", nil)
		var a *fakeNode
		a = startFakeNode(t, "a", func(n *fakeNode) {
			n.insert = func(ctx context.Context, _ *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
				go a.srv.Stop() // the node dies with the call in flight
				<-ctx.Done()
				return nil, ctx.Err()
			}
		})
		la := lead(t, g, "a", a.addr)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{NumRows: 1})
			errc <- err
		}()
		testutil.Eventually(t, 30*time.Second, "p.m.retried Insert, broken > 0", func() bool { return testutilCounter(p.m.retried.WithLabelValues("Insert", "broken")) > 0 })
		la.resign(t)
		lead(t, g, "b", b.addr)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		idA, idB := a.lastMD().Get(requestIDHeader), b.lastMD().Get(requestIDHeader)
		if a.count("Insert") != 1 || b.count("Insert") != 1 || len(idA) != 1 || len(idA[0]) != 32 || !slices.Equal(idA, idB) {
			t.Fatalf("a got %d inserts (id %v), b %d (id %v); want one each with the same request id", a.count("Insert"), idA, b.count("Insert"), idB)
		}
	})

	t.Run("broken after sending, no active to re-send to", func(t *testing.T) {
		name, g := testGroup(t)
		var a *fakeNode
		a = startFakeNode(t, "a", func(n *fakeNode) {
			n.insert = func(ctx context.Context, _ *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
				go a.srv.Stop() // the node dies with the call in flight
				<-ctx.Done()
				return nil, ctx.Err()
			}
		})
		lead(t, g, "a", a.addr)
		p := startProxy(t, name, func(c *Config) { c.Hold = 500 * time.Millisecond })
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		_, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{NumRows: 1})
		if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "may have been applied") {
			t.Fatalf("err = %v, want Unknown saying it may have been applied", err)
		}
		if a.count("Insert") != 1 {
			t.Fatalf("insert sent %d times", a.count("Insert"))
		}
	})

	t.Run("not acknowledged", func(t *testing.T) {
		name, g := testGroup(t)
		a := startFakeNode(t, "a", func(n *fakeNode) {
			n.insert = func(context.Context, *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
				return notAckedResult(), nil
			}
		})
		lead(t, g, "a", a.addr)
		p := startProxy(t, name, func(c *Config) { c.Hold = 500 * time.Millisecond })
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		r, err := c.Insert(ctxT(t, 10*time.Second), &milvuspb.InsertRequest{NumRows: 1})
		if err != nil || !strings.Contains(r.GetStatus().GetReason(), "NOT acknowledged") {
			t.Fatalf("insert: %v %v, want the node's answer", r, err)
		}
		if a.count("Insert") < 2 {
			t.Fatalf("insert sent %d times, want re-sent with its request id", a.count("Insert"))
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		first := a.mds[0].Get(requestIDHeader)
		for i, md := range a.mds {
			if got := md.Get(requestIDHeader); len(first) != 1 || !slices.Equal(got, first) {
				t.Fatalf("attempt %d request id %v, first %v: want one id for the call", i, got, first)
			}
		}
	})

	t.Run("client's own request id kept", func(t *testing.T) {
		name, g := testGroup(t)
		a := startFakeNode(t, "a", nil)
		lead(t, g, "a", a.addr)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		ctx := metadata.AppendToOutgoingContext(ctxT(t, 10*time.Second), requestIDHeader, "client-7")
		if _, err := c.Upsert(ctx, &milvuspb.UpsertRequest{NumRows: 1}); err != nil {
			t.Fatalf("upsert: %v", err)
		}
		if got := a.lastMD().Get(requestIDHeader); !slices.Equal(got, []string{"client-7"}) {
			t.Fatalf("request id %v, want the client's", got)
		}
		if _, err := c.Search(ctxT(t, 10*time.Second), &milvuspb.SearchRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := a.lastMD().Get(requestIDHeader); len(got) != 0 {
			t.Fatalf("a read carries request id %v", got)
		}
	})
}

// TestDedupWriteRetried: Upsert (sent with a request id) and reads are
// retried after a call broke or a write was not acknowledged.
func TestDedupWriteRetried(t *testing.T) {
	t.Run("upsert not acknowledged then acknowledged", func(t *testing.T) {
		name, g := testGroup(t)
		var n atomic.Int32
		a := startFakeNode(t, "a", func(f *fakeNode) {
			f.upsert = func(_ context.Context, r *milvuspb.UpsertRequest) (*milvuspb.MutationResult, error) {
				if n.Add(1) <= 2 {
					return notAckedResult(), nil
				}
				return &milvuspb.MutationResult{UpsertCnt: int64(r.GetNumRows())}, nil
			}
		})
		lead(t, g, "a", a.addr)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		r, err := c.Upsert(ctxT(t, 10*time.Second), &milvuspb.UpsertRequest{NumRows: 4})
		if err != nil || r.GetStatus().GetCode() != 0 || r.GetUpsertCnt() != 4 {
			t.Fatalf("upsert: %v %v", r, err)
		}
		if a.count("Upsert") != 3 {
			t.Fatalf("upsert sent %d times, want 3", a.count("Upsert"))
		}
	})

	t.Run("search broken then served by the next active", func(t *testing.T) {
		name, g := testGroup(t)
		b := startFakeNode(t, "b", nil)
		var a *fakeNode
		a = startFakeNode(t, "a", func(n *fakeNode) {
			n.search = func(ctx context.Context, _ *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
				go a.srv.Stop()
				<-ctx.Done()
				return nil, ctx.Err()
			}
		})
		la := lead(t, g, "a", a.addr)
		p := startProxy(t, name, nil)
		awaitActive(t, p, "a")
		c, _ := dialProxy(t, p)
		errc := make(chan error, 1)
		go func() {
			r, err := c.Search(ctxT(t, 10*time.Second), &milvuspb.SearchRequest{CollectionName: "c"})
			if err == nil && r.GetCollectionName() != "c@b" {
				err = fmt.Errorf("answered by %q", r.GetCollectionName())
			}
			errc <- err
		}()
		testutil.Eventually(t, 30*time.Second, "p.m.retried Search, broken > 0", func() bool { return testutilCounter(p.m.retried.WithLabelValues("Search", "broken")) > 0 })
		la.resign(t)
		lead(t, g, "b", b.addr)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

// TestRESTForwarding: HTTP/1.x requests on the client port go to the
// active's REST API; without an active they are held, then answered with
// the Milvus envelope code 2.
func TestRESTForwarding(t *testing.T) {
	name, g := testGroup(t)
	var got atomic.Value
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.URL.Path + " " + string(b) + " " + r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"code":0,"data":["c1"]}`)
	})}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })

	p := startProxy(t, name, func(c *Config) { c.Hold = 300 * time.Millisecond })
	post := func() (int, map[string]any) {
		req, _ := http.NewRequest("POST", "http://"+p.Addr()+"/v2/vectordb/collections/list", bytes.NewBufferString(`{"dbName":"d"}`))
		req.Header.Set("Authorization", "Bearer root:Milvus")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, env
	}
	code, env := post()
	if code != http.StatusServiceUnavailable || env["code"] != float64(2) || !strings.Contains(fmt.Sprint(env["message"]), "no active in group "+name) {
		t.Fatalf("without an active: %d %v", code, env)
	}
	lead(t, g, "r", lis.Addr().String())
	awaitActive(t, p, "r")
	code, env = post()
	if code != http.StatusOK || env["code"] != float64(0) {
		t.Fatalf("with an active: %d %v", code, env)
	}
	if want := `/v2/vectordb/collections/list {"dbName":"d"} Bearer root:Milvus`; got.Load() != want {
		t.Fatalf("node got %q, want %q", got.Load(), want)
	}
}

// TestSideHTTP: /healthz, /status and /metrics.
func TestSideHTTP(t *testing.T) {
	name, g := testGroup(t)
	a := startFakeNode(t, "a", nil)
	lead(t, g, "a", a.addr)
	p := startProxy(t, name, nil)
	awaitActive(t, p, "a")
	c, _ := dialProxy(t, p)
	if _, err := c.Search(ctxT(t, 10*time.Second), &milvuspb.SearchRequest{}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + p.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if got := get("/healthz"); strings.TrimSpace(got) != "OK" {
		t.Fatalf("/healthz %q", got)
	}
	var st Status
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Group != name || st.Active == nil || st.Active.NodeID != "a" || st.Active.Addr != a.addr || st.Active.Epoch == 0 {
		t.Fatalf("/status %+v", st)
	}
	m := get("/metrics")
	for _, want := range []string{
		`tandem_proxy_requests_total{method="Search"} 1`,
		`tandem_proxy_forwarded_total{method="Search"} 1`,
		fmt.Sprintf(`tandem_proxy_active{addr=%q,node="a"} 1`, a.addr),
		`tandem_proxy_has_active 1`,
		`tandem_proxy_active_switches_total 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestCloseFailsHeldRequests: Close ends a hold at once with Unavailable.
func TestCloseFailsHeldRequests(t *testing.T) {
	name, _ := testGroup(t)
	p := startProxy(t, name, func(c *Config) { c.Hold = 20 * time.Second })
	c, _ := dialProxy(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Search(ctxT(t, 30*time.Second), &milvuspb.SearchRequest{})
		errc <- err
	}()
	testutil.Eventually(t, 30*time.Second, "p.m.held Search > 0", func() bool { return testutilCounter(p.m.held.WithLabelValues("Search")) > 0 })
	t0 := time.Now()
	if err := p.Close(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := <-errc
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") || time.Since(t0) > 5*time.Second {
		t.Fatalf("held request after Close: %v (%v)", err, time.Since(t0))
	}
}

// TestFrozenActiveAbandoned: a call stuck at a node that stops being the
// active (frozen, cut off) is abandoned when the leader key moves: a
// search and an insert (with its request id, which the new active
// deduplicates) are retried on the new active at once — neither waits for
// the client's deadline.
func TestFrozenActiveAbandoned(t *testing.T) {
	name, g := testGroup(t)
	b := startFakeNode(t, "b", nil)
	stuck := make(chan struct{}, 2)
	a := startFakeNode(t, "a", func(n *fakeNode) {
		n.search = func(ctx context.Context, _ *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
			stuck <- struct{}{}
			<-ctx.Done() // frozen until the proxy gives up on it
			return nil, ctx.Err()
		}
		n.insert = func(ctx context.Context, _ *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
			stuck <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	la := lead(t, g, "a", a.addr)
	p := startProxy(t, name, nil)
	awaitActive(t, p, "a")
	c, _ := dialProxy(t, p)
	ctx := ctxT(t, 20*time.Second)
	type res struct {
		search string
		err    error
	}
	searchc, insertc := make(chan res, 1), make(chan error, 1)
	go func() {
		r, err := c.Search(ctx, &milvuspb.SearchRequest{CollectionName: "c"})
		searchc <- res{r.GetCollectionName(), err}
	}()
	go func() {
		_, err := c.Insert(ctx, &milvuspb.InsertRequest{NumRows: 1})
		insertc <- err
	}()
	<-stuck
	<-stuck
	t0 := time.Now()
	la.resign(t)
	lead(t, g, "b", b.addr)
	if r := <-searchc; r.err != nil || r.search != "c@b" {
		t.Fatalf("search after the leader moved: %q, %v (want c@b)", r.search, r.err)
	}
	if err := <-insertc; err != nil {
		t.Fatalf("insert abandoned at the old active: %v, want re-sent to the new one", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("abandoning took %v", d)
	}
	if ida, idb := a.requestIDs(), b.requestIDs(); b.count("Insert") != 1 || len(ida) != 1 || !slices.Equal(ida, idb) {
		t.Fatalf("the new active got %d inserts, request ids %v (old active: %v), want the same one", b.count("Insert"), idb, ida)
	}
}
