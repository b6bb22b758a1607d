// Package server wires a zero-setup Tandem node together: an embedded
// single-member arbiter (etcd, in-process on loopback, data under
// DataDir/arbiter) and a one-node HA group (package node: the storage
// engine, the Milvus API on one port, the HTTP side port with /healthz,
// /metrics and /status). cmd/tandem and the tests use it.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	milvusapi "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/node"
	"github.com/tandem-db/tandem/internal/security"
)

// Version is the server version reported to clients.
var Version = "0.1.0"

// Group and node id of the one-node group a standalone runs.
const (
	StandaloneGroup  = "standalone"
	StandaloneNodeID = "standalone"
)

// Config configures a standalone node.
type Config struct {
	Engine engine.Config
	// Listen is the client address (Milvus gRPC and REST), default ":19530".
	Listen string
	// HTTPListen is the side HTTP address (/healthz, /metrics, /status),
	// "" or "off" disables it (the command line's default is
	// node.DefaultHTTPListen, loopback).
	HTTPListen string
	Logger     *slog.Logger
	// ClientTLS, Auth and RequestTimeout secure the client port as on a
	// node (node.Config's fields of the same names); zero: plaintext, open.
	ClientTLS      security.TLSFiles
	Auth           *milvusapi.AuthOptions
	RequestTimeout time.Duration
	// StartTimeout bounds how long Start waits for the node to become
	// the active (default 30s).
	StartTimeout time.Duration
}

// Standalone is a running single node.
type Standalone struct {
	member *arbiter.Member
	node   *node.Node
	lock   *os.File // DataDir/standalone.lock, flock-ed while running
}

// Start starts the embedded arbiter, then the node, and returns once the
// node is the active with writes open.
func Start(cfg Config) (*Standalone, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = node.DefaultListen
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Engine.DataDir == "" {
		return nil, fmt.Errorf("server: Config.Engine.DataDir is required")
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	lock, err := lockDataDir(cfg.Engine.DataDir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()

	mcfg := arbiter.DefaultMemberConfig(StandaloneNodeID, filepath.Join(cfg.Engine.DataDir, "arbiter"))
	mcfg.ListenClientURLs = []string{"http://127.0.0.1:0"}
	mcfg.ListenPeerURLs = []string{"http://127.0.0.1:0"}
	mcfg.InitialCluster = ""
	// One in-process member: short raft timing makes a restart electable
	// at once (a single member still waits one election timeout).
	mcfg.HeartbeatInterval = 50 * time.Millisecond
	mcfg.ElectionTimeout = 250 * time.Millisecond
	mcfg.Logger = cfg.Logger
	member, err := arbiter.StartMember(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("server: embedded arbiter: %w", err)
	}
	// The arbiter is private to this process: leases left by an earlier
	// run (killed before it could resign) belong to nobody now. Revoking
	// them makes a restart writable at once instead of after their TTL.
	if err := revokeAll(ctx, member.ClientEndpoints(), cfg.Logger); err != nil {
		member.Close()
		return nil, err
	}
	n, err := node.Start(node.Config{
		Group:          StandaloneGroup,
		NodeID:         StandaloneNodeID,
		Engine:         cfg.Engine,
		Listen:         cfg.Listen,
		PeerListen:     "off",
		HTTPListen:     cfg.HTTPListen,
		Arbiter:        member.ClientEndpoints(),
		Dial:           arbiter.DialOptions{Logger: cfg.Logger},
		Version:        Version,
		Logger:         cfg.Logger,
		ClientTLS:      cfg.ClientTLS,
		Auth:           cfg.Auth,
		RequestTimeout: cfg.RequestTimeout,
	})
	if err != nil {
		member.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Standalone{member: member, node: n, lock: lock}
	if _, err := n.Await(ctx, func(st node.Status) bool { return st.WritesOpen }); err != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		s.Close(cctx)
		return nil, fmt.Errorf("server: waiting to become the active: %w", err)
	}
	started = true
	cfg.Logger.Info("tandem standalone serving", "listen", n.Addr(), "http", n.HTTPAddr(), "data_dir", cfg.Engine.DataDir,
		"arbiter", member.ClientEndpoints()[0], "client_tls", cfg.ClientTLS.Enabled(), "auth", cfg.Auth != nil)
	return s, nil
}

// revokeAll revokes every lease in the arbiter at endpoints.
func revokeAll(ctx context.Context, endpoints []string, log *slog.Logger) error {
	cli, err := arbiter.Dial(ctx, endpoints, arbiter.DialOptions{Logger: log})
	if err != nil {
		return fmt.Errorf("server: embedded arbiter: %w", err)
	}
	defer cli.Close()
	etcd := cli.Etcd()
	resp, err := etcd.Leases(ctx)
	if err != nil {
		return fmt.Errorf("server: embedded arbiter: list leases: %w", err)
	}
	for _, l := range resp.Leases {
		if _, err := etcd.Revoke(ctx, l.ID); err != nil {
			return fmt.Errorf("server: embedded arbiter: revoke lease %x: %w", int64(l.ID), err)
		}
	}
	return nil
}

// Addr is the bound client address.
func (s *Standalone) Addr() string { return s.node.Addr() }

// HTTPAddr is the bound side HTTP address, or "".
func (s *Standalone) HTTPAddr() string { return s.node.HTTPAddr() }

// Engine returns the node's engine.
func (s *Standalone) Engine() *engine.Engine { return s.node.Engine() }

// Node returns the HA node.
func (s *Standalone) Node() *node.Node { return s.node }

// Done is closed when the API server stops serving.
func (s *Standalone) Done() <-chan struct{} { return s.node.Done() }

// Close stops serving (gracefully, bounded by ctx), closes the engine and
// stops the embedded arbiter.
func (s *Standalone) Close(ctx context.Context) error {
	err := s.node.Close(ctx)
	s.member.Close()
	s.lock.Close()
	return err
}
