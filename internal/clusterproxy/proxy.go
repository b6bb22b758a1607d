// Package clusterproxy is `tandem proxy --cluster`: a stateless
// Milvus-protocol proxy in front of a cluster (docs/architecture.md §5). It
// caches the cluster catalog (watching the arbiter), sends DDL to the root
// coordinator, routes inserts and upserts to the shard's group by primary
// key hash (auto ids come from the root's allocator), sends deletes to
// every group of the collection, and scatters searches and queries to
// those groups and merges the answers (top-k in the metric's direction,
// offset/limit after the merge, count(*) summed). Each group is reached
// through an in-process leader-following proxy (internal/groupclient), so
// a group failover is ridden through as with `tandem proxy`; DML and search
// never wait for a coordinator.
package clusterproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/groupclient"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// Config configures a cluster proxy.
type Config struct {
	Cluster    string
	Arbiter    []string
	Dial       arbiter.DialOptions
	Listen     string        // Milvus gRPC (default ":19530")
	HTTPListen string        // /healthz, /status, /metrics ("off" disables; default "127.0.0.1:9092")
	Hold       time.Duration // how long a call waits for a group's active or the root (default 10s)
	Version    string
	Logger     *slog.Logger
}

// ErrInvalidConfig: a Config field is unusable (the message names it).
var ErrInvalidConfig = errors.New("clusterproxy: invalid config")

// Validate names the first unusable field.
func (c Config) Validate() error {
	if c.Cluster == "" || strings.Contains(c.Cluster, "/") {
		return fmt.Errorf("%w: Cluster = %q: must be non-empty without '/'", ErrInvalidConfig, c.Cluster)
	}
	if len(c.Arbiter) == 0 {
		return fmt.Errorf("%w: Arbiter is empty", ErrInvalidConfig)
	}
	if c.Hold < 0 {
		return fmt.Errorf("%w: Hold = %v: must be >= 0", ErrInvalidConfig, c.Hold)
	}
	return nil
}

// Proxy is a running cluster proxy.
type Proxy struct {
	milvuspb.UnimplementedMilvusServiceServer

	cfg  Config
	log  *slog.Logger
	arb  *arbiter.Client
	cli  *clientv3.Client
	pool *groupclient.Pool
	cat  *catalogCache
	hc   *http.Client

	lis, httpLis net.Listener
	srv          *grpc.Server
	side         *http.Server
	cancel       context.CancelFunc
	wg           sync.WaitGroup

	idPrefix string
	seq      atomic.Int64

	metricMu sync.Mutex
	metric   map[string]string // "db/coll/field" -> metric type; guarded by metricMu
}

// Start checks that the cluster exists, loads the catalog and serves.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = ":19530"
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = "127.0.0.1:9092"
	}
	if cfg.Hold == 0 {
		cfg.Hold = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	arb, err := arbiter.Dial(ctx, cfg.Arbiter, cfg.Dial)
	if err != nil {
		return nil, fmt.Errorf("clusterproxy: arbiter: %w", err)
	}
	if _, err := coord.ReadStatus(ctx, arb.Etcd(), cfg.Cluster); err != nil {
		arb.Close()
		return nil, fmt.Errorf("clusterproxy: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	p := &Proxy{cfg: cfg, log: cfg.Logger, arb: arb, cli: arb.Etcd(),
		pool:     groupclient.NewPool(cfg.Arbiter, cfg.Dial, cfg.Hold, cfg.Logger),
		hc:       &http.Client{Timeout: 60 * time.Second},
		idPrefix: "cp-" + hex.EncodeToString(b[:]), metric: map[string]string{}}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if p.cat, err = newCatalogCache(ctx, runCtx, p.cli, cfg.Cluster, p.log, &p.wg); err != nil {
		cancel()
		arb.Close()
		return nil, err
	}
	if p.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		p.Close(ctx)
		return nil, fmt.Errorf("clusterproxy: listen %s: %w", cfg.Listen, err)
	}
	p.srv = grpc.NewServer(grpc.MaxRecvMsgSize(groupclient.MaxMsgBytes), grpc.MaxSendMsgSize(groupclient.MaxMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(unimplemented))
	milvuspb.RegisterMilvusServiceServer(p.srv, p)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.srv.Serve(p.lis) }()
	if cfg.HTTPListen != "off" {
		if p.httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			p.Close(ctx)
			return nil, fmt.Errorf("clusterproxy: http listen %s: %w", cfg.HTTPListen, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
		p.side = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.side.Serve(p.httpLis) }()
	}
	p.log.Info("tandem proxy serving", "cluster", cfg.Cluster, "listen", p.Addr(), "http", p.HTTPAddr(),
		"arbiter", strings.Join(cfg.Arbiter, ","), "collections", p.cat.size())
	return p, nil
}

// Addr is the bound client address.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// HTTPAddr is the bound side address ("off" when disabled).
func (p *Proxy) HTTPAddr() string {
	if p.httpLis == nil {
		return "off"
	}
	return p.httpLis.Addr().String()
}

// Close stops serving and releases everything.
func (p *Proxy) Close(ctx context.Context) error {
	if p.srv != nil {
		done := make(chan struct{})
		go func() { p.srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			p.srv.Stop()
		}
	}
	if p.side != nil {
		p.side.Close()
	}
	p.cancel()
	p.pool.Close()
	p.wg.Wait()
	return p.arb.Close()
}

// unimplemented answers methods the cluster proxy does not serve with a
// Milvus "service unimplemented" error naming the method.
func unimplemented(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil && status.Code(err) == codes.Unimplemented {
		m := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		return nil, status.Error(codes.Unimplemented, merr.Wrapf(merr.ErrServiceUnimplemented, "%s is not supported by a Tandem cluster yet", m).Error())
	}
	return resp, err
}

// requestID is a new DDL request id.
func (p *Proxy) requestID() string {
	return fmt.Sprintf("%s-%d-%d", p.idPrefix, time.Now().UnixMilli(), p.seq.Add(1))
}
