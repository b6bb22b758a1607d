package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/testutil"
)

// The package's tests share one in-process single-member etcd (each test
// uses its own group), with a 50 ms heartbeat so that 1 s leases work.
var (
	etcdOnce sync.Once
	etcd     *arbiter.Member
	etcdErr  error
	etcdDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if etcd != nil {
		etcd.Close()
	}
	if etcdDir != "" {
		os.RemoveAll(etcdDir)
	}
	os.Exit(testutil.CheckLeaks(code))
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func etcdEndpoints(t testing.TB) []string {
	t.Helper()
	etcdOnce.Do(func() {
		if etcdDir, etcdErr = os.MkdirTemp("", "proxy-test-"); etcdErr != nil {
			return
		}
		cfg := arbiter.LocalMemberConfig("proxytest", etcdDir+"/etcd")
		cfg.HeartbeatInterval = 50 * time.Millisecond
		cfg.ElectionTimeout = 500 * time.Millisecond
		cfg.Logger = quietLogger()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		etcd, etcdErr = arbiter.StartMember(ctx, cfg)
	})
	if etcdErr != nil {
		t.Fatalf("start etcd: %v", etcdErr)
	}
	return etcd.ClientEndpoints()
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var groupSeq atomic.Int64

// testGroup returns a unique group name and a handle on it.
func testGroup(t *testing.T) (string, *arbiter.Group) {
	t.Helper()
	name := fmt.Sprintf("%s-%d", strings.NewReplacer("/", "_").Replace(t.Name()), groupSeq.Add(1))
	c, err := arbiter.Dial(ctxT(t, 10*time.Second), etcdEndpoints(t), arbiter.DialOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return name, c.Group(name)
}

// leadership is a leader key held by a test session.
type leadership struct {
	g *arbiter.Group
	s *arbiter.Session
}

// lead makes id (at addr) the group's leader and returns once the key is
// written; the proxy learns of it through its watch.
func lead(t *testing.T, g *arbiter.Group, id, addr string) *leadership {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	s, err := g.NewSession(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	won, _, err := g.Campaign(ctx, s, arbiter.Leader{NodeID: id, Addr: addr}, arbiter.Candidate{})
	if err != nil || !won {
		t.Fatalf("campaign %s: won=%v err=%v", id, won, err)
	}
	return &leadership{g: g, s: s}
}

func (l *leadership) resign(t *testing.T) {
	t.Helper()
	if err := l.g.Resign(ctxT(t, 10*time.Second), l.s); err != nil {
		t.Fatal(err)
	}
}

// startProxy starts a proxy for group on loopback with short timings.
func startProxy(t *testing.T, group string, mut func(*Config)) *Proxy {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Group, cfg.Arbiter = group, etcdEndpoints(t)
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Hold = 3 * time.Second
	cfg.RetryBackoff, cfg.MaxRetryBackoff = 10*time.Millisecond, 50*time.Millisecond
	cfg.Logger = quietLogger()
	cfg.Dial.Logger = cfg.Logger
	if mut != nil {
		mut(&cfg)
	}
	p, err := Start(ctxT(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

// awaitActive waits until the proxy forwards to node id ("" = none).
func awaitActive(t *testing.T, p *Proxy, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, changed := p.watch.get()
		if (id == "" && l == nil) || (l != nil && l.NodeID == id) {
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("proxy active = %v, want %q", leaderID(l), id)
		}
	}
}

// fakeNode is a Milvus gRPC server whose handlers the test chooses.
type fakeNode struct {
	milvuspb.UnimplementedMilvusServiceServer
	id   string
	lis  net.Listener
	srv  *grpc.Server
	addr string

	mu    sync.Mutex
	calls map[string]int
	mds   []metadata.MD

	insert func(ctx context.Context, r *milvuspb.InsertRequest) (*milvuspb.MutationResult, error)
	upsert func(ctx context.Context, r *milvuspb.UpsertRequest) (*milvuspb.MutationResult, error)
	search func(ctx context.Context, r *milvuspb.SearchRequest) (*milvuspb.SearchResults, error)
}

func startFakeNode(t *testing.T, id string, setup func(n *fakeNode)) *fakeNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{id: id, lis: lis, addr: lis.Addr().String(), calls: map[string]int{}, srv: grpc.NewServer()}
	if setup != nil {
		setup(n)
	}
	milvuspb.RegisterMilvusServiceServer(n.srv, n)
	healthpb.RegisterHealthServer(n.srv, health.NewServer())
	go n.srv.Serve(lis)
	t.Cleanup(n.srv.Stop)
	return n
}

func (n *fakeNode) record(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	n.mu.Lock()
	n.calls[method]++
	n.mds = append(n.mds, md)
	n.mu.Unlock()
}

func (n *fakeNode) count(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

func (n *fakeNode) lastMD() metadata.MD {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.mds) == 0 {
		return nil
	}
	return n.mds[len(n.mds)-1]
}

// requestIDs returns the request ids of the calls, in arrival order.
func (n *fakeNode) requestIDs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, md := range n.mds {
		out = append(out, md.Get(requestIDHeader)...)
	}
	return out
}

func (n *fakeNode) Insert(ctx context.Context, r *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
	n.record(ctx, "Insert")
	if n.insert != nil {
		return n.insert(ctx, r)
	}
	return &milvuspb.MutationResult{InsertCnt: int64(r.GetNumRows())}, nil
}

func (n *fakeNode) Upsert(ctx context.Context, r *milvuspb.UpsertRequest) (*milvuspb.MutationResult, error) {
	n.record(ctx, "Upsert")
	if n.upsert != nil {
		return n.upsert(ctx, r)
	}
	return &milvuspb.MutationResult{UpsertCnt: int64(r.GetNumRows())}, nil
}

func (n *fakeNode) Search(ctx context.Context, r *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
	n.record(ctx, "Search")
	if n.search != nil {
		return n.search(ctx, r)
	}
	return &milvuspb.SearchResults{CollectionName: r.GetCollectionName() + "@" + n.id}, nil
}

func (n *fakeNode) ShowCollections(ctx context.Context, r *milvuspb.ShowCollectionsRequest) (*milvuspb.ShowCollectionsResponse, error) {
	n.record(ctx, "ShowCollections")
	return &milvuspb.ShowCollectionsResponse{CollectionNames: []string{n.id}}, nil
}

// dialProxy returns a Milvus client of the proxy.
func dialProxy(t *testing.T, p *Proxy) (milvuspb.MilvusServiceClient, *grpc.ClientConn) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return milvuspb.NewMilvusServiceClient(cc), cc
}

// testutilCounter reads a counter's value.
func testutilCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
