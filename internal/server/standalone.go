// Package server wires one Tandem node together: the storage engine, the
// Milvus API (gRPC + REST on one port) and the HTTP side port with
// /healthz, /metrics and /status. cmd/tandem and the tests use it.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	milvusapi "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/metrics"
)

// Version is the server version reported to clients.
var Version = "0.1.0"

// Config configures a standalone node.
type Config struct {
	Engine engine.Config
	// Listen is the client address (Milvus gRPC and REST), default ":19530".
	Listen string
	// HTTPListen is the side HTTP address (/healthz, /metrics, /status),
	// default ":9091"; "" or "off" disables it.
	HTTPListen string
	Logger     *slog.Logger
}

// Standalone is a running single node.
type Standalone struct {
	cfg     Config
	log     *slog.Logger
	eng     *engine.Engine
	api     *milvusapi.Server
	lis     net.Listener
	httpLis net.Listener
	httpSrv *http.Server
	started time.Time

	closeOnce sync.Once
	done      chan struct{}
	serveErr  error
}

var registerOnce sync.Once

// Start opens the engine, binds the listeners and starts serving. It
// returns once the node accepts connections.
func Start(cfg Config) (*Standalone, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = ":19530"
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	eng, err := engine.Open(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("server: open engine: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("server: listen %s: %w", cfg.Listen, err)
	}
	s := &Standalone{cfg: cfg, log: cfg.Logger, eng: eng, lis: lis, started: time.Now(), done: make(chan struct{})}
	s.api = milvusapi.NewServer(eng, milvusapi.Options{ServerVersion: Version, Logger: cfg.Logger})
	registerOnce.Do(func() { registerEngineGauges() })
	currentEngine.Store(eng)

	if cfg.HTTPListen != "" && cfg.HTTPListen != "off" {
		hl, err := net.Listen("tcp", cfg.HTTPListen)
		if err != nil {
			lis.Close()
			eng.Close()
			return nil, fmt.Errorf("server: listen http %s: %w", cfg.HTTPListen, err)
		}
		s.httpLis = hl
		s.httpSrv = &http.Server{Handler: s.httpMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.httpSrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http server stopped", "err", err)
			}
		}()
	}
	go func() {
		s.serveErr = s.api.Serve(lis)
		close(s.done)
	}()
	s.log.Info("tandem standalone serving", "listen", lis.Addr().String(), "http", s.HTTPAddr(), "data_dir", cfg.Engine.DataDir)
	return s, nil
}

// Addr is the bound client address.
func (s *Standalone) Addr() string { return s.lis.Addr().String() }

// HTTPAddr is the bound side HTTP address, or "".
func (s *Standalone) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// Engine returns the node's engine.
func (s *Standalone) Engine() *engine.Engine { return s.eng }

// Done is closed when the API server stops serving.
func (s *Standalone) Done() <-chan struct{} { return s.done }

// Close stops serving (gracefully, bounded by ctx) and closes the engine.
func (s *Standalone) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		stopped := make(chan struct{})
		go func() { s.api.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.api.Stop()
		}
		if s.httpSrv != nil {
			s.httpSrv.Shutdown(ctx)
		}
		err = s.eng.Close()
	})
	return err
}

func (s *Standalone) httpMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "OK")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		st := s.eng.Stats()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"role":           "standalone",
			"version":        Version,
			"listen":         s.Addr(),
			"uptime_seconds": time.Since(s.started).Seconds(),
			"engine":         st,
		})
	})
	mux.Handle("/v2/", s.api.HTTPHandler())
	return mux
}

type engineHolder struct {
	mu  sync.Mutex
	eng *engine.Engine
}

func (h *engineHolder) Store(e *engine.Engine) { h.mu.Lock(); h.eng = e; h.mu.Unlock() }
func (h *engineHolder) stats() engine.EngineStats {
	h.mu.Lock()
	e := h.eng
	h.mu.Unlock()
	if e == nil {
		return engine.EngineStats{}
	}
	return e.Stats()
}

// currentEngine feeds the process-wide engine gauges (one engine per
// process in production; tests may start several, the last one wins).
var currentEngine engineHolder

func registerEngineGauges() {
	g := func(name, help string, f func(engine.EngineStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tandem", Name: name, Help: help},
			func() float64 { return f(currentEngine.stats()) })
	}
	metrics.Registry.MustRegister(
		g("collections", "Collections in the catalog.", func(s engine.EngineStats) float64 { return float64(s.Collections) }),
		g("rows", "Visible live rows over all collections.", func(s engine.EngineStats) float64 { return float64(s.Rows) }),
		g("segments_growing", "Growing (in-memory) segments.", func(s engine.EngineStats) float64 { return float64(s.GrowingSegs) }),
		g("segments_sealed", "Sealed segments.", func(s engine.EngineStats) float64 { return float64(s.SealedSegs) }),
		g("wal_applied_lsn", "Last applied WAL LSN.", func(s engine.EngineStats) float64 { return float64(s.AppliedLSN) }),
		g("wal_durable_lsn", "Last durable WAL LSN.", func(s engine.EngineStats) float64 { return float64(s.DurableLSN) }),
		g("checkpoint_lsn", "LSN covered by the last checkpoint.", func(s engine.EngineStats) float64 { return float64(s.CheckpointLSN) }),
		g("wal_bytes", "WAL bytes on disk.", func(s engine.EngineStats) float64 { return float64(s.WALBytes) }),
	)
}
