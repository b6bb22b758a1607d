// Package node runs one member of a standalone HA group (docs/architecture.md §3): the
// storage engine, the Milvus API (gRPC + REST), the HTTP side port, the
// peer port reserved for replication, and the loop that drives the role
// state machine (package ha) with the arbiter (package arbiter).
//
// The loop is the only goroutine that steps the machine and executes its
// actions; everything slow (arbiter round trips, the promotion's
// epoch-start record) runs in helper goroutines that post their outcome
// back to the loop as a closure. The engine's write gate (gate.go) and
// the API's role gate read atomics the loop maintains.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	milvusapi "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/lifecycle"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
	"github.com/tandem-db/tandem/internal/security"
)

// Node is a running HA group member.
type Node struct {
	cfg Config
	log *slog.Logger

	eng     *engine.Engine
	inc     *incarnation // DATA_DIR's incarnation (incarnation.go)
	api     *milvusapi.Server
	lis     net.Listener
	peerLis net.Listener
	peerSrv *grpc.Server
	httpLis net.Listener
	httpSrv *http.Server
	gate    *writeGate
	repl    *streamReplicator // default replicator, or nil
	dep     *deployment       // change stream and leading/alternative role (deployment.go)
	sync    *syncSet          // sync mode's sync set keeper, or nil
	// clock is the fence clock (clock.go): the write deadline and the
	// role machine's times are measured on it.
	clock *fenceClock
	// sess and group are the loop's current arbiter session and group
	// handle, for helpers outside the loop goroutine (the sync set).
	sess  atomic.Pointer[arbiter.Session]
	group atomic.Pointer[arbiter.Group]
	// onLeaderRefused hands the receiver's "the active's peer port
	// refuses connections" to the loop (set once the loop exists).
	onLeaderRefused atomic.Pointer[func(peer string)]
	// peerDial and upstreamDial dial peer ports: this group's (cluster
	// secret) and the leading deployment's (change stream credential).
	peerDial, upstreamDial []grpc.DialOption
	addr                   string // advertised client address
	peer                   string // advertised peer address
	started                time.Time

	view    atomic.Pointer[Status]
	watchMu sync.Mutex
	changed chan struct{} // closed and replaced when the view changes

	ctx     context.Context // the loop and its helpers
	cancel  context.CancelFunc
	stopReq chan struct{}
	// switchReq and switchDone carry a switchover to and from the loop.
	switchReq  chan switchRequest
	switchDone chan switchOutcome
	loopDone   chan struct{}
	apiDone    chan struct{}
	apiErr     error

	closeOnce sync.Once
	closeErr  error

	// bg tracks every long-lived goroutine the node starts (the loop and
	// its helpers, the servers, the deployment manager, switchover
	// resolution); shutdown stops it and waits for all of them before the
	// engine closes, so none outlives Close.
	bg lifecycle.Group

	// failed is closed, with failErr set first, when the node cannot go on
	// (its mode differs from the group's): the caller should Close it and
	// exit with Err.
	failOnce sync.Once
	failed   chan struct{}
	failErr  error
}

// Status is what /status reports and Await observes.
type Status struct {
	Group      string        `json:"group"`
	NodeID     string        `json:"node_id"`
	Role       string        `json:"role"`
	Epoch      uint64        `json:"epoch"`
	Leader     *LeaderStatus `json:"leader"`
	WritesOpen bool          `json:"writes_open"`
	WriteEpoch uint64        `json:"write_epoch"`
	// FenceDeadline is when writes stop unless the lease is renewed: the
	// last acknowledged grant or renewal's send time + TTL - FenceMargin
	// (zero without a session).
	FenceDeadline    time.Time      `json:"fence_deadline"`
	Session          bool           `json:"session"`
	LeaseID          int64          `json:"lease_id"`
	ArbiterReachable bool           `json:"arbiter_reachable"`
	Following        bool           `json:"following"`
	PositionEpoch    uint64         `json:"position_epoch"`
	DurableLSN       uint64         `json:"durable_lsn"`
	AppliedLSN       uint64         `json:"applied_lsn"`
	Addr             string         `json:"addr"`
	PeerAddr         string         `json:"peer_addr"`
	HTTPAddr         string         `json:"http_addr"`
	Members          []MemberStatus `json:"members"`
	Version          string         `json:"version"`
	// Incarnation is the data dir's incarnation: this node is a sync set
	// member as node_id@incarnation. IncarnationLegacy: adopted by a data
	// dir older than incarnations (may match a pre-upgrade sync set entry).
	Incarnation       string `json:"incarnation"`
	IncarnationLegacy bool   `json:"incarnation_legacy,omitempty"`
	// Replication is the default replicator's state (nil without it).
	Replication *ReplicationStatus `json:"replication,omitempty"`
	// Deployment is the leading/alternative state (deployment.go).
	Deployment *DeploymentStatus `json:"deployment,omitempty"`
	// Broken is why the storage engine failed (role "broken"), else "".
	Broken string `json:"broken,omitempty"`
	// Disk is the low-disk guard's view of the data dir's file system.
	Disk engine.DiskStatus `json:"disk"`
}

// LeaderStatus is the leader as the node last observed it.
type LeaderStatus struct {
	NodeID   string `json:"node_id"`
	Addr     string `json:"addr"`
	PeerAddr string `json:"peer_addr"`
	Epoch    uint64 `json:"epoch"`
}

// MemberStatus is a member as the node last observed it.
type MemberStatus = arbiter.MemberStatus

// Start opens the engine, binds the listeners, starts serving (every data
// RPC is refused until this node is the active) and starts the HA loop. It
// returns once the node accepts connections; the arbiter is dialled in
// the background (and redialled until it answers).
func Start(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	registerMetrics()
	clientTLS, err := security.ClientPortConfig(cfg.ClientTLS)
	if err != nil {
		return nil, fmt.Errorf("node: client TLS: %w", err)
	}
	peerOpts, err := cfg.Peer.ServerOptions()
	if err != nil {
		return nil, fmt.Errorf("node: peer TLS: %w", err)
	}
	inc, err := openIncarnation(cfg.Engine.DataDir)
	if err != nil {
		return nil, err
	}
	eng, err := engine.Open(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("node: open engine: %w", err)
	}
	if cfg.Auth != nil && cfg.Auth.RootPasswordHash == "" {
		if _, ok := eng.Credential(milvusapi.RootUser); !ok {
			eng.Close()
			return nil, fmt.Errorf("node: authentication is on and root has no password yet: give the initial root password (--root-password-file or TANDEM_ROOT_PASSWORD): %w", ErrInvalidConfig)
		}
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), eng: eng, inc: inc, started: time.Now(), failed: make(chan struct{}),
		changed: make(chan struct{}), stopReq: make(chan struct{}),
		switchReq: make(chan switchRequest), switchDone: make(chan switchOutcome),
		loopDone: make(chan struct{}), apiDone: make(chan struct{}),
	}
	if n.peerDial, err = cfg.Peer.DialOptions(cfg.Peer.ClusterSecret); err != nil {
		eng.Close()
		return nil, fmt.Errorf("node: peer TLS: %w", err)
	}
	if n.upstreamDial, err = cfg.Peer.DialOptions(cfg.UpstreamSecret); err != nil {
		eng.Close()
		return nil, fmt.Errorf("node: peer TLS: %w", err)
	}
	cleanup := func(err error) (*Node, error) {
		for _, l := range []net.Listener{n.lis, n.peerLis, n.httpLis} {
			if l != nil {
				l.Close()
			}
		}
		eng.Close()
		return nil, err
	}
	if n.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		return cleanup(fmt.Errorf("node: listen %s: %w", cfg.Listen, err))
	}
	if cfg.PeerListen != "off" {
		if n.peerLis, err = net.Listen("tcp", cfg.PeerListen); err != nil {
			return cleanup(fmt.Errorf("node: listen peer %s: %w", cfg.PeerListen, err))
		}
	}
	if cfg.HTTPListen != "" && cfg.HTTPListen != "off" {
		if n.httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			return cleanup(fmt.Errorf("node: listen http %s: %w", cfg.HTTPListen, err))
		}
	}
	n.addr = advertise(cfg.AdvertiseAddr, n.lis.Addr())
	if n.peerLis != nil {
		n.peer = advertise(cfg.AdvertisePeerAddr, n.peerLis.Addr())
	}
	n.clock = newFenceClock()
	n.gate = newWriteGate(cfg.NodeID, n.clock, n.notServing)
	eng.SetWriteGate(n.gate)
	if cfg.Replicator == nil && cfg.Replication != ReplicationOff && n.peerLis != nil {
		n.repl = newStreamReplicator(n)
		n.cfg.Replicator = n.repl
		cfg.Replicator = n.repl
		if cfg.SyncMode == SyncSync {
			n.sync = newSyncSet(cfg.NodeID, cfg.MinSyncStandbys, cfg.SyncPolicy, cfg.SyncTimeout, cfg.DegradeAfter,
				memberPeers{n.repl.sender}, eng, n.log.With("component", "syncset"), n.putSyncSet)
			eng.SetAckHook(func(ctx context.Context, lsn uint64) error {
				if err := n.sync.ack(ctx, lsn); err != nil {
					syncAckFailures.WithLabelValues(cfg.NodeID).Inc()
					return fmt.Errorf("sync mode: %w", err)
				}
				return n.deploymentAck(lsn)
			})
		}
	}
	if n.sync == nil && cfg.Deployment.managed() {
		eng.SetAckHook(func(_ context.Context, lsn uint64) error { return n.deploymentAck(lsn) })
	}
	currentEngine.Store(eng)
	setRoleMetric(cfg.NodeID, ha.Standby)
	haWritesOpen.WithLabelValues(cfg.NodeID).Set(0)
	engineBroken.WithLabelValues(cfg.NodeID).Set(0)
	n.publishView(n.initialView())

	n.api = milvusapi.NewServer(eng, milvusapi.Options{ServerVersion: cfg.Version, Logger: cfg.Logger, RoleGate: n,
		Auth: cfg.Auth, RequestTimeout: cfg.RequestTimeout})
	n.bg.Go(func() {
		lis := n.lis
		if clientTLS != nil {
			lis = tls.NewListener(lis, clientTLS)
		}
		n.apiErr = n.api.Serve(lis)
		close(n.apiDone)
	})
	if n.peerLis != nil {
		n.peerSrv = grpc.NewServer(peerOpts...)
		hs := health.NewServer()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(n.peerSrv, hs)
		if cfg.Replicator != nil {
			cfg.Replicator.RegisterPeer(n.peerSrv)
		}
		n.registerDeployment(n.peerSrv) // change stream (deployment.go)
		n.bg.Go(func() {
			if err := n.peerSrv.Serve(n.peerLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				n.log.Error("peer server stopped", "err", err)
			}
		})
	}
	if n.httpLis != nil {
		n.httpSrv = &http.Server{Handler: n.httpMux(), ReadHeaderTimeout: 10 * time.Second}
		n.bg.Go(func() {
			if err := n.httpSrv.Serve(n.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("http server stopped", "err", err)
			}
		})
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	l := newLoop(n)
	refused := func(peer string) { l.post(func() { l.leaderRefused(peer) }) }
	n.onLeaderRefused.Store(&refused)
	if n.sync != nil {
		n.sync.onServing = func() { l.post(l.updateView) } // wake Await callers
		n.sync.onWaiting = func() { l.post(l.updateView) } // wake Await callers; the member status is republished
	}
	n.bg.Go(l.run)
	n.startDeployment()
	n.log.Info("tandem node serving", "group", cfg.Group, "listen", n.lis.Addr().String(), "peer", n.PeerAddr(),
		"http", n.HTTPAddr(), "advertise", n.addr, "arbiter", strings.Join(cfg.Arbiter, ","), "data_dir", cfg.Engine.DataDir,
		"client_tls", clientTLS != nil, "peer_tls", cfg.Peer.TLS.Enabled(), "peer_secret", cfg.Peer.ClusterSecret != "", "auth", cfg.Auth != nil)
	return n, nil
}

// Addr is the bound client address.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// PeerAddr is the bound peer address, or "".
func (n *Node) PeerAddr() string {
	if n.peerLis == nil {
		return ""
	}
	return n.peerLis.Addr().String()
}

// HTTPAddr is the bound side HTTP address, or "".
func (n *Node) HTTPAddr() string {
	if n.httpLis == nil {
		return ""
	}
	return n.httpLis.Addr().String()
}

// Engine returns the node's engine.
func (n *Node) Engine() *engine.Engine { return n.eng }

// API returns the node's Milvus API server.
func (n *Node) API() *milvusapi.Server { return n.api }

// Done is closed when the client API server stops serving.
func (n *Node) Done() <-chan struct{} { return n.apiDone }

// Status returns the node's current status.
func (n *Node) Status() Status {
	st := *n.view.Load()
	st.Members = append([]MemberStatus(nil), st.Members...)
	if st.Leader != nil {
		l := *st.Leader
		st.Leader = &l
	}
	st.AppliedLSN = n.eng.LastLSN()
	st.PositionEpoch, st.DurableLSN = n.eng.Position()
	ep, _, open := n.gate.state()
	if n.sync != nil && !n.sync.serving() {
		open = false // not serving until the sync set is written
	}
	st.WritesOpen, st.WriteEpoch = open, ep
	st.Incarnation, st.IncarnationLegacy = n.inc.get()
	st.Deployment = n.deploymentStatus()
	st.Disk = n.eng.Disk()
	if n.repl != nil {
		st.Replication = n.repl.status(n.cfg.SyncMode, n.cfg.MinSyncStandbys)
		if n.sync != nil {
			st.Replication.Sync = n.sync.status()
		}
	}
	return st
}

// Failed is closed when the node cannot go on (its --sync-mode differs
// from the group's recorded mode); Err says why. The node serves no client
// and does not campaign from then on: Close it.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why the node failed (nil while Failed is open).
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

// fail records err and closes Failed (the first error wins).
func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.log.Error("node cannot go on", "err", err)
		close(n.failed)
	})
}

// Role is the current role.
func (n *Node) Role() ha.Role { return roleOf(n.view.Load().Role) }

func roleOf(s string) ha.Role {
	for _, r := range allRoles {
		if r.String() == s {
			return r
		}
	}
	return ha.Standby
}

// Await blocks until cond holds for the node's status (checked on every
// change the loop makes), or ctx ends.
func (n *Node) Await(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		n.watchMu.Lock()
		ch := n.changed
		n.watchMu.Unlock()
		if st := n.Status(); cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return n.Status(), fmt.Errorf("node %s: await: %w", n.cfg.NodeID, ctx.Err())
		}
	}
}

// publishView stores a new view and wakes Await callers.
func (n *Node) publishView(v *Status) {
	n.view.Store(v)
	n.watchMu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.watchMu.Unlock()
}

func (n *Node) initialView() *Status {
	return &Status{Group: n.cfg.Group, NodeID: n.cfg.NodeID, Role: ha.Standby.String(),
		Addr: n.addr, PeerAddr: n.peer, HTTPAddr: n.HTTPAddr(), Version: n.cfg.Version}
}

// ServeClient implements milvusapi.RoleGate: client requests are served
// only while this node is the active with writes open.
func (n *Node) ServeClient() error {
	if _, err := n.gate.Allow(); err != nil {
		return err
	}
	if n.sync != nil && !n.sync.serving() {
		// Sync mode: reads are capped by the sync set's commit LSN, which
		// exists once the set is written at this epoch (milliseconds).
		return merr.NotServing("node %s is becoming the active; its sync set is not written yet", n.cfg.NodeID)
	}
	return nil
}

// notServing explains why this node does not serve clients now.
func (n *Node) notServing() error {
	v := n.view.Load()
	id := n.cfg.NodeID
	var why string
	switch {
	case v.Role == ha.Broken.String():
		why = fmt.Sprintf("node %s is broken: its storage engine failed (%s); it resigned and refuses requests until restarted (fix the cause, e.g. free disk space, then restart it)", id, v.Broken)
		if v.Leader != nil && v.Leader.NodeID != id {
			why += fmt.Sprintf("; the active is %s at %s", v.Leader.NodeID, v.Leader.Addr)
		}
	case v.Leader != nil && v.Leader.NodeID != id:
		why = fmt.Sprintf("node %s is %s; the active is %s at %s", id, v.Role, v.Leader.NodeID, v.Leader.Addr)
	case v.Role == ha.Active.String():
		why = fmt.Sprintf("node %s is becoming the active at epoch %d; not open for writes yet", id, v.Epoch)
	case v.Role == ha.Fenced.String():
		why = fmt.Sprintf("node %s is fenced: its arbiter lease was not renewed in time", id)
	case v.Role == ha.Stopped.String():
		why = fmt.Sprintf("node %s is stopping", id)
	default:
		why = fmt.Sprintf("node %s is %s; there is no active at the moment (election in progress)", id, v.Role)
	}
	return merr.NotServing("%s", why)
}

// Close stops the node gracefully: an active closes writes and resigns at
// once (its lease is revoked, so a standby can take over without waiting
// for the lease to expire), then the servers stop (bounded by ctx) and the
// engine closes.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		close(n.stopReq)
		select {
		case <-n.loopDone:
		case <-ctx.Done():
			n.cancel()
			<-n.loopDone
		}
		n.closeErr = n.shutdown(ctx, true)
	})
	return n.closeErr
}

// kill simulates the death of the process (tests): the loop stops without
// resigning, the arbiter connection drops (the lease is left to expire),
// the servers stop at once and the engine closes.
func (n *Node) kill() {
	n.closeOnce.Do(func() {
		n.gate.close()
		n.cancel()
		<-n.loopDone
		n.closeErr = n.shutdown(context.Background(), false)
	})
}

func (n *Node) shutdown(ctx context.Context, graceful bool) error {
	n.gate.close()
	n.cancel()
	if n.sync != nil {
		n.sync.deactivate()
	}
	if graceful {
		stopped := make(chan struct{})
		n.bg.Go(func() { n.api.GracefulStop(); close(stopped) })
		select {
		case <-stopped:
		case <-ctx.Done():
			n.api.Stop()
		}
	} else {
		n.api.Stop()
	}
	if n.repl != nil {
		n.repl.close()
	}
	if n.peerSrv != nil {
		n.peerSrv.Stop()
	}
	if n.httpSrv != nil {
		if graceful {
			n.httpSrv.Shutdown(ctx)
		} else {
			n.httpSrv.Close()
		}
	}
	// Everything the goroutines wait on has ended (the context, the
	// servers, the streams): join them before the engine closes.
	n.bg.StopAndWait()
	if n.sync != nil {
		n.sync.wait()
	}
	if n.repl != nil {
		n.repl.sender.Wait()
	}
	return n.eng.Close()
}

func (n *Node) httpMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "OK")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	if h := failpoint.Handler(); h != nil { // failpoint builds only (tests)
		mux.Handle("/debug/failpoints/", h)
	}
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		st := n.Status()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Status
			UptimeSeconds float64            `json:"uptime_seconds"`
			Engine        engine.EngineStats `json:"engine"`
		}{st, time.Since(n.started).Seconds(), n.eng.Stats()})
	})
	mux.HandleFunc("/readyz", n.serveReady)
	mux.HandleFunc("/v1/switchover", func(w http.ResponseWriter, r *http.Request) {
		if n.repl == nil {
			http.Error(w, "switchover: this node runs without replication (tandem standalone, --replication off or --peer-listen off): there is no standby to hand over to", http.StatusConflict)
			return
		}
		n.serveSwitchover(w, r)
	})
	mux.Handle("/v2/", n.api.HTTPHandler())
	return mux
}
