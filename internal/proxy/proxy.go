// Package proxy is `tandem proxy` (docs/architecture.md §3, client routing): a stateless
// Milvus-protocol proxy in front of one HA group. It follows the group's
// leader key in the arbiter and forwards every client RPC to the current
// active, so an unmodified Milvus SDK pointed at the proxy survives a
// failover. Any number of proxies may run side by side: a proxy keeps no
// state but its view of the leader key.
//
// # Behaviour
//
//   - Forwarding: no service is registered; every gRPC method arrives at
//     one handler (grpc.UnknownServiceHandler) with its messages as raw
//     bytes (a pass-through codec) and goes to the active unchanged, with
//     the client's metadata (authorization, dbname, identifier, ...) as
//     request metadata and the node's header and trailer passed back.
//     Unary methods are retried as below; streaming methods and methods
//     of other services are forwarded as plain streams, never retried.
//     With Config.REST, HTTP/1.x requests on the same port (RESTful v2)
//     are forwarded to the active's client port as well.
//   - Holding: while the group has no active (leader key absent), a
//     request waits for one, at most Config.Hold (default 5s) from its
//     arrival and never past the client's deadline; then it fails with
//     gRPC Unavailable "proxy: no active in group G ...; nothing was
//     applied", which clients (and the SDKs, on their own) retry.
//   - TLS (optional, off by default): Config.TLS on the client address
//     (gRPC and REST, ALPN as on the node), Config.BackendTLS towards the
//     nodes' client ports (incl. a client certificate), Config.Dial.TLS
//     towards the arbiter. Credentials are forwarded, never checked.
//   - Retries: see retryable. Only the status field of a response is ever
//     decoded (statusOf), to recognise a node's refusal.
//
// # Invariants
//
//   - The proxy never applies a write twice: a request that may have
//     reached a node's state (the call broke after it was sent, or the
//     node said "durable ... but NOT acknowledged") is re-sent only for
//     reads and for Insert, Upsert and Delete, which the proxy sends with
//     a request id (metadata "tandem-request-id", one per client call,
//     the client's own if it sent one): the node answers a known id with
//     the original result and applies nothing (package engine,
//     request.go; it remembers the last 65536 ids, the proxy re-sends
//     only within the hold). Everything else (DDL, admin writes) is
//     re-sent only when provably not applied: no connection could be
//     established, or the node answered with its role/write-gate refusal
//     (Milvus code 2 with a gate wording, see isRefusal). A write that may
//     have been applied and was not answered is returned as gRPC Unknown,
//     not Unavailable, because the SDKs retry Unavailable by themselves
//     (as a new call, with a new id).
//   - Every retry and every hold ends by the hold deadline (Config.Hold
//     from arrival, capped by the client's deadline).
//   - The leader key is the only source of truth for where to send; a
//     refusal naming another node only makes the proxy try again.
//
// # Defaults
//
// Listen ":19530", HTTPListen "127.0.0.1:9092" (/healthz, /metrics, /status), Hold
// 5s, retry pauses 25ms doubling to 400ms (a change of active ends a pause
// at once), messages up to 64 MiB, REST forwarding on.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/connmux"
	"github.com/tandem-db/tandem/internal/lifecycle"
	"github.com/tandem-db/tandem/internal/security"
)

// sniffTimeout bounds how long a new client connection may stay silent
// before its first bytes decide where it goes.
const sniffTimeout = 10 * time.Second

// Proxy is a running proxy.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	arb      *arbiter.Client
	watch    *leaderWatch
	backends *backends
	started  time.Time

	backendTLS *tls.Config // nil: the nodes are dialled in plaintext

	lis     net.Listener
	httpLis net.Listener
	mux     *connmux.Mux
	grpcSrv *grpc.Server
	restSrv *http.Server
	sideSrv *http.Server

	cancel    context.CancelFunc // stops the watch and the pruning loop
	closing   chan struct{}      // closed when Close starts
	done      chan struct{}      // closed when the client listener fails
	doneOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
	// bg tracks the long-lived goroutines (leader watch, pruning, the
	// servers and the connection mux); Close waits for all of them.
	bg lifecycle.Group
}

// Start dials the arbiter, starts following the leader key, binds the
// listeners and serves. ctx bounds the arbiter dial and the wait for the
// first read of the leader key (also bounded by the dial timeout; if that
// read is slow, requests are held until it completes).
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Arbiter = nonEmpty(cfg.Arbiter)
	if cfg.Dial.Logger == nil {
		cfg.Dial.Logger = cfg.Logger
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, m: newMetrics(), started: time.Now(),
		closing: make(chan struct{}), done: make(chan struct{})}
	clientTLS, err := security.ClientPortConfig(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("proxy: TLS: %w", err)
	}
	if cfg.backendTLSOn() {
		if p.backendTLS, err = security.ClientConfig(cfg.BackendTLS, ""); err != nil {
			return nil, fmt.Errorf("proxy: backend TLS: %w", err)
		}
	}
	arb, err := arbiter.Dial(ctx, cfg.Arbiter, cfg.Dial)
	if err != nil {
		return nil, fmt.Errorf("proxy: arbiter: %w", err)
	}
	p.arb = arb
	if p.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		arb.Close()
		return nil, fmt.Errorf("proxy: listen %s: %w", cfg.Listen, err)
	}
	if cfg.HTTPListen != "off" {
		if p.httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			p.lis.Close()
			arb.Close()
			return nil, fmt.Errorf("proxy: http listen %s: %w", cfg.HTTPListen, err)
		}
	}
	p.watch = newLeaderWatch(arb.Group(cfg.Group), p.log, p.m)
	p.m.setActive(nil, nil)
	p.backends = newBackends(cfg.MaxMsgBytes, cfg.IdleBackendTimeout, p.backendTLS)
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.bg.Go(func() { p.watch.run(runCtx) })
	p.bg.Go(func() { p.pruneLoop(runCtx) })
	first := time.NewTimer(2 * time.Second)
	select {
	case <-p.watch.ready:
	case <-first.C:
		p.log.Warn("proxy: leader key not read yet; requests are held until it is", "group", cfg.Group)
	case <-ctx.Done():
	}
	first.Stop()

	p.grpcSrv = grpc.NewServer(
		grpc.UnknownServiceHandler(p.handle),
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(cfg.MaxMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxMsgBytes),
		// The official SDKs ping every 5 s even without active streams.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	// With TLS the mux sniffs the decrypted stream; ALPN (ClientPortConfig)
	// gives gRPC clients h2 and REST clients HTTP/1.1, as on the node.
	base := p.lis
	if clientTLS != nil {
		base = tls.NewListener(p.lis, clientTLS)
	}
	p.mux = connmux.New(base, sniffTimeout, p.log)
	p.bg.Go(func() {
		if err := p.grpcSrv.Serve(p.mux.GRPC()); err != nil && !errors.Is(err, net.ErrClosed) {
			p.log.Debug("proxy: grpc serve ended", "err", err)
		}
	})
	if cfg.REST {
		p.restSrv = &http.Server{Handler: p.restHandler(), ReadHeaderTimeout: sniffTimeout,
			ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
		p.bg.Go(func() {
			if err := p.restSrv.Serve(p.mux.HTTP()); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				p.log.Debug("proxy: rest serve ended", "err", err)
			}
		})
	} else {
		p.bg.Go(func() { // no REST: refuse HTTP/1.x connections
			for {
				c, err := p.mux.HTTP().Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	}
	p.bg.Go(func() { // ends when Close closes the mux
		err := p.mux.Serve()
		select {
		case <-p.closing:
		default:
			p.log.Error("proxy: client listener failed", "err", err)
			p.doneOnce.Do(func() { close(p.done) })
		}
	})
	if p.httpLis != nil {
		p.sideSrv = &http.Server{Handler: p.sideMux(), ReadHeaderTimeout: 10 * time.Second}
		p.bg.Go(func() {
			if err := p.sideSrv.Serve(p.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("proxy: http server stopped", "err", err)
			}
		})
	}
	active := "none"
	if l, _ := p.watch.get(); l != nil {
		active = l.NodeID + "@" + l.Addr
	}
	p.log.Info("tandem proxy serving", "group", cfg.Group, "listen", p.Addr(), "http", p.HTTPAddr(),
		"arbiter", strings.Join(cfg.Arbiter, ","), "active", active, "hold", cfg.Hold.String(), "rest", cfg.REST,
		"tls", cfg.TLS.Enabled(), "backend_tls", p.backendTLS != nil)
	return p, nil
}

// pruneLoop closes idle connections to nodes that are no longer active.
func (p *Proxy) pruneLoop(ctx context.Context) {
	t := time.NewTicker(max(p.cfg.IdleBackendTimeout/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			keep := ""
			if l, _ := p.watch.get(); l != nil {
				keep = l.Addr
			}
			p.backends.prune(keep, now)
		}
	}
}

// Addr is the bound client address.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// HTTPAddr is the bound side HTTP address, or "" when disabled.
func (p *Proxy) HTTPAddr() string {
	if p.httpLis == nil {
		return ""
	}
	return p.httpLis.Addr().String()
}

// Done is closed if the client listener fails (not after Close).
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Close stops the proxy gracefully: it stops accepting connections, fails
// held requests at once (Unavailable: nothing was applied), lets requests
// already forwarded finish (bounded by ctx, then they are cut), and
// closes the node and arbiter connections.
func (p *Proxy) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mux.Close()
		stopped := make(chan struct{})
		go func() {
			p.grpcSrv.GracefulStop()
			close(stopped)
		}()
		var errs []error
		if p.restSrv != nil {
			if err := p.restSrv.Shutdown(ctx); err != nil {
				p.restSrv.Close()
				errs = append(errs, fmt.Errorf("proxy: rest shutdown: %w", err))
			}
		}
		select {
		case <-stopped:
		case <-ctx.Done():
			p.grpcSrv.Stop()
			<-stopped
			errs = append(errs, fmt.Errorf("proxy: grpc graceful stop: %w", ctx.Err()))
		}
		if p.sideSrv != nil {
			if err := p.sideSrv.Shutdown(ctx); err != nil {
				p.sideSrv.Close()
			}
		}
		p.cancel()
		p.bg.StopAndWait()
		p.backends.close()
		if err := p.arb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("proxy: %w", err))
		}
		p.closeErr = errors.Join(errs...)
		p.log.Info("tandem proxy stopped", "group", p.cfg.Group)
	})
	return p.closeErr
}
