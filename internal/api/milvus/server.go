// Package milvus holds Tandem's client-facing adapters: the Milvus gRPC
// service (milvuspb.MilvusServiceServer) and the Milvus RESTful v2 API,
// served together on one TCP port as Milvus does. The adapters translate
// requests into engine calls and engine results into Milvus responses;
// they never decide: validation of data and all state live in the engine.
package milvus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tandem-db/tandem/internal/connmux"
	"github.com/tandem-db/tandem/internal/engine"
)

// DefaultMaxMsgBytes is the default bound on one request or response.
const DefaultMaxMsgBytes = 64 << 20

// sniffTimeout bounds how long a new connection may stay silent before
// the multiplexer gives up on it.
const sniffTimeout = 10 * time.Second

// Options configures a Server. Zero values mean the defaults.
type Options struct {
	// MaxRecvMsgBytes bounds one request (gRPC message or REST body);
	// default 64 MiB.
	MaxRecvMsgBytes int
	// MaxSendMsgBytes bounds one gRPC response; default 64 MiB.
	MaxSendMsgBytes int
	// ServerVersion is Tandem's version, reported in Connect's reserved
	// server info ("tandem_version"); GetVersion answers MilvusVersion.
	ServerVersion string
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// RoleGate, if set, is asked before every client RPC and REST call
	// except the handshake and health methods (Connect, GetVersion,
	// CheckHealth, GetComponentStates); its error is returned as the
	// method's Milvus status. HA standbys use it to refuse client traffic
	// with a reason that names the active. nil serves everything.
	RoleGate RoleGate
	// Auth, if set, requires a valid user and password on every gRPC
	// call and REST request (auth.go); nil serves without authentication.
	Auth *AuthOptions
	// RequestTimeout, if > 0, is the deadline given to gRPC calls and
	// REST requests that carry none.
	RequestTimeout time.Duration
	// MaxConcurrentStreams bounds the concurrent calls of one gRPC
	// connection (and so the request memory it can pin); default 1024.
	MaxConcurrentStreams uint32
}

// RoleGate decides whether this node serves client requests now.
type RoleGate interface {
	// ServeClient returns nil to serve, or the error to answer with
	// (normally merr.ErrServiceUnavailable wrapped with a reason).
	ServeClient() error
}

func (o Options) withDefaults() Options {
	if o.MaxRecvMsgBytes <= 0 {
		o.MaxRecvMsgBytes = DefaultMaxMsgBytes
	}
	if o.MaxSendMsgBytes <= 0 {
		o.MaxSendMsgBytes = DefaultMaxMsgBytes
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 1024
	}
	if o.ServerVersion == "" {
		o.ServerVersion = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Server is the Milvus-protocol front end of one engine: a gRPC
// MilvusService and the RESTful v2 API on the same listener.
type Server struct {
	milvuspb.UnimplementedMilvusServiceServer

	eng  *engine.Engine
	opts Options
	log  *slog.Logger

	grpcSrv *grpc.Server
	httpSrv *http.Server
	rest    http.Handler

	auth   *authenticator // nil: authentication off
	tso    tsoAllocator
	connID atomic.Int64

	mu      sync.Mutex
	muxes   []*connmux.Mux
	stopped bool
}

// NewServer returns a Server for eng. Call Serve to start it.
func NewServer(eng *engine.Engine, opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{eng: eng, opts: opts, log: opts.Logger}
	s.connID.Store(time.Now().UnixNano() & 0x7fffffffffff)
	if opts.Auth != nil {
		s.auth = &authenticator{s: s, opts: *opts.Auth}
	}
	s.grpcSrv = grpc.NewServer(
		grpc.MaxRecvMsgSize(opts.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(opts.MaxSendMsgBytes),
		grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		// The official SDKs ping every 5 s even without active streams;
		// the gRPC default policy would answer that with GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.ChainUnaryInterceptor(
			s.metricsInterceptor,
			s.deadlineInterceptor,
			s.authInterceptor,
			s.roleInterceptor,
			s.recoverInterceptor,
			unimplementedInterceptor,
		),
	)
	milvuspb.RegisterMilvusServiceServer(s.grpcSrv, s)
	s.rest = s.newRESTHandler()
	s.httpSrv = &http.Server{
		Handler:           s.rest,
		ReadHeaderTimeout: sniffTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// HTTPHandler returns the RESTful v2 handler (paths /v2/vectordb/...), for
// binaries that want to serve it on another port as well.
func (s *Server) HTTPHandler() http.Handler { return s.rest }

// Serve accepts connections on lis and serves gRPC (HTTP/2 with the
// client preface) and REST (HTTP/1.x) on it until lis fails or the server
// is stopped. It returns nil after Stop or GracefulStop, and otherwise
// the listener's error. lis is closed when Serve returns.
func (s *Server) Serve(lis net.Listener) error {
	m := connmux.New(lis, sniffTimeout, s.log)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		lis.Close()
		return nil
	}
	s.muxes = append(s.muxes, m)
	s.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.grpcSrv.Serve(m.GRPC()); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("milvus api: grpc serve ended", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.httpSrv.Serve(m.HTTP()); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("milvus api: http serve ended", "err", err)
		}
	}()
	err := m.Serve()
	m.Close()
	wg.Wait()

	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return nil
	}
	return fmt.Errorf("milvus api: accept: %w", err)
}

// GracefulStop stops accepting connections and waits for in-flight gRPC
// and REST requests to finish.
func (s *Server) GracefulStop() {
	s.closeListeners()
	s.grpcSrv.GracefulStop()
	if err := s.httpSrv.Shutdown(context.Background()); err != nil {
		s.log.Warn("milvus api: http shutdown", "err", err)
	}
}

// Stop closes all listeners and connections at once.
func (s *Server) Stop() {
	s.closeListeners()
	s.grpcSrv.Stop()
	s.httpSrv.Close()
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	s.stopped = true
	muxes := s.muxes
	s.muxes = nil
	s.mu.Unlock()
	for _, m := range muxes {
		m.Close()
	}
}
