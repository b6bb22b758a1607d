package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"

	milvusapi "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/security"
)

// ErrInvalidConfig is wrapped by every Config error.
var ErrInvalidConfig = errors.New("node: invalid configuration")

// ErrModeMismatch: the node's SyncMode differs from the group's mode
// recorded in the arbiter (Node.Err; the node fails without campaigning).
var ErrModeMismatch = errors.New("node: acknowledgement mode differs from the group's")

// Defaults for zero Config fields.
const (
	DefaultListen     = ":19530"
	DefaultPeerListen = ":19540"
	// DefaultHTTPListen is loopback: the side port carries state and the
	// switchover action, so exposing it is a choice (--http-listen).
	DefaultHTTPListen         = "127.0.0.1:9091"
	DefaultTickInterval       = 50 * time.Millisecond
	DefaultPublishMinInterval = 200 * time.Millisecond
	DefaultPublishRefresh     = time.Second
)

// Config configures an HA group member.
type Config struct {
	// Group is the HA group's name; NodeID this node's id in it (both
	// non-empty, without '/').
	Group  string
	NodeID string
	// Engine configures the storage engine (DataDir is required).
	Engine engine.Config
	// Listen is the client address (Milvus gRPC and REST), default
	// ":19530".
	Listen string
	// PeerListen is the replication address, default ":19540"; "off"
	// disables it (a one-node group).
	PeerListen string
	// HTTPListen is the side HTTP address (/healthz, /readyz, /metrics,
	// /status, POST /v1/switchover); "" or "off" disables it. The command
	// line's default is DefaultHTTPListen (loopback).
	HTTPListen string
	// AdvertiseAddr and AdvertisePeerAddr are the addresses published in
	// the arbiter for clients and peers. Default: the bound address, with
	// an unspecified host (":19530", "0.0.0.0") replaced by the hostname.
	AdvertiseAddr     string
	AdvertisePeerAddr string
	// Arbiter lists the etcd endpoints.
	Arbiter []string
	// Dial configures the arbiter connection.
	Dial arbiter.DialOptions
	// HA holds the role timings; NodeID is taken from NodeID, zero fields
	// are defaults (ha.Config.WithDefaults).
	HA ha.Config
	// TickInterval is how often the role machine is ticked (default 50ms).
	TickInterval time.Duration
	// PublishMinInterval bounds how often the member status is written
	// (default 200ms); PublishRefresh is the longest time between two
	// writes (default 1s).
	PublishMinInterval time.Duration
	PublishRefresh     time.Duration
	// Version is Tandem's version: on /status and in the Milvus Connect reply's
	// reserved server info (GetVersion answers the Milvus version, milvus.MilvusVersion).
	Version string
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
	// Replication is "on" (default, "" too) or "off". When on and
	// Replicator is nil, the node replicates with the package replication
	// stream (asynchronously) over the peer port; it is off when
	// PeerListen is "off".
	Replication string
	// SyncMode is "sync" or "async". Sync (the default when the default
	// replicator runs: Replication on, a PeerListen address, no
	// Replicator): a client write is acknowledged only once every standby
	// in the arbiter's sync set has it durable, and the set holds at least
	// MinSyncStandbys (default 1) standbys; only members of the sync set
	// may be promoted, so a failover loses no acknowledged write. Async
	// (the default otherwise): acknowledged after the local fsync; any
	// live member may be promoted (highest position first).
	SyncMode string
	// MinSyncStandbys: 0 takes the default, 1 (a sync mode that waits for
	// no standby would be async mode; `tandem node` refuses an explicit
	// --min-sync-standbys 0); negative is an error.
	MinSyncStandbys int
	// SyncPolicy says what sync mode does while the sync set holds fewer
	// than MinSyncStandbys standbys: "strict" (default) — writes wait, up
	// to each request's deadline; "degrade" — after DegradeAfter (default
	// 5s) writes are acknowledged locally, status says "degraded", and no
	// automatic promotion is possible until a standby is back in sync.
	SyncPolicy   string
	DegradeAfter time.Duration
	// SyncTimeout is how long a standby of the sync set may lag behind a
	// write (disconnected, stalled, slow) before the active drops it from
	// the set (default 1s). Writes wait at most about this long for a
	// standby that died.
	SyncTimeout time.Duration
	// KeepDeadActiveLease turns off the early end of a dead active's lease
	// (ha.Config.EndDeadLeaderLease): by default, in sync mode, a standby
	// of the sync set whose stream from the active broke, and whose
	// connections to the active's peer port are then refused, asks the
	// arbiter to revoke the active's lease at once, so a killed active is
	// replaced in a fraction of a second instead of after its lease TTL.
	// A host that dies silently (no refusal) still waits for the TTL.
	KeepDeadActiveLease bool
	// Replicator overrides the data plane ; nil uses the default
	// above.
	Replicator Replicator
	// Deployment configures leading/alternative deployments (deployment.go).
	Deployment DeploymentConfig
	// ClientTLS, when it names a certificate, serves the client port
	// (gRPC and REST) over TLS; ClientAuth "require" asks for a client
	// certificate signed by its CA . Zero: plaintext.
	ClientTLS security.TLSFiles
	// Peer secures the peer port (replication, change stream) and this
	// node's connections to other peer ports: mTLS and/or a cluster
	// secret. Zero: plaintext, open.
	Peer security.PeerSecurity
	// UpstreamSecret is the change stream credential this node presents
	// when, as an alternative, it subscribes to the leading deployment
	// (the leading's Peer.ChangeStreamSecret).
	UpstreamSecret string
	// Auth turns on user/password authentication on the client port
	// (nil: off). Without a root credential in the replicated catalog,
	// Auth.RootPasswordHash (the initial root password) is required.
	Auth *milvusapi.AuthOptions
	// RequestTimeout, if > 0, is the deadline of client RPCs that carry
	// none.
	RequestTimeout time.Duration
}

// Replicator is the seam for the replication data plane: the loop calls
// it from its own goroutine as the role machine decides, and it must not
// block for long (start work in the background).
type Replicator interface {
	// RegisterPeer registers the replication service on the peer gRPC
	// server before it starts serving.
	RegisterPeer(s *grpc.Server)
	// Follow starts (or redirects) replication from leader.
	Follow(leader ha.LeaderInfo)
	// StopFollow stops replicating.
	StopFollow()
	// BeforePromote runs before the epoch-start record of epoch is
	// written: stop following and apply everything received. It may
	// block (bounded by ctx); an error fails the promotion.
	BeforePromote(ctx context.Context, epoch uint64) error
	// Eligible reports whether member m may be promoted (sync set, lag).
	// It is called on the loop goroutine for every member observation.
	Eligible(m arbiter.MemberStatus) bool
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PeerListen == "" {
		c.PeerListen = DefaultPeerListen
	}
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.PublishMinInterval <= 0 {
		c.PublishMinInterval = DefaultPublishMinInterval
	}
	if c.PublishRefresh <= 0 {
		c.PublishRefresh = DefaultPublishRefresh
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.SyncMode == "" {
		c.SyncMode = SyncAsync
		if c.Replication != ReplicationOff && c.PeerListen != "off" && c.Replicator == nil {
			c.SyncMode = SyncSync
		}
	}
	if c.SyncPolicy == "" {
		c.SyncPolicy = SyncStrict
	}
	if c.DegradeAfter == 0 {
		c.DegradeAfter = 5 * time.Second
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = time.Second
	}
	if c.SyncMode == SyncSync && c.MinSyncStandbys == 0 {
		c.MinSyncStandbys = 1
	}
	c.HA.NodeID = c.NodeID
	c.HA.EndDeadLeaderLease = c.SyncMode == SyncSync && !c.KeepDeadActiveLease
	c.HA = c.HA.WithDefaults()
	return c
}

// validate checks a config with defaults applied.
func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("node: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case !validName(c.Group):
		return bad("Group = %q: must be 1-128 characters without '/'", c.Group)
	case !validName(c.NodeID):
		return bad("NodeID = %q: must be 1-128 characters without '/'", c.NodeID)
	case arbiter.AmbiguousNodeID(c.NodeID):
		return bad("NodeID = %q: must not end in '@' and 16 hex digits (the sync set's node@incarnation form)", c.NodeID)
	case c.Engine.DataDir == "":
		return bad("Engine.DataDir is required")
	case len(c.Arbiter) == 0:
		return bad("Arbiter: at least one endpoint is required")
	case c.Replication != "" && c.Replication != ReplicationOn && c.Replication != ReplicationOff:
		return bad("Replication = %q: must be on or off", c.Replication)
	case c.SyncMode != SyncAsync && c.SyncMode != SyncSync:
		return bad("SyncMode = %q: must be async or sync", c.SyncMode)
	case c.MinSyncStandbys < 0:
		return bad("MinSyncStandbys = %d: must be >= 0", c.MinSyncStandbys)
	case c.SyncPolicy != SyncStrict && c.SyncPolicy != SyncDegrade:
		return bad("SyncPolicy = %q: must be strict or degrade", c.SyncPolicy)
	case c.DegradeAfter < 0:
		return bad("DegradeAfter = %v: must be >= 0", c.DegradeAfter)
	case c.SyncTimeout < 0:
		return bad("SyncTimeout = %v: must be > 0", c.SyncTimeout)
	case c.SyncMode == SyncSync && (c.Replication == ReplicationOff || c.PeerListen == "off" || c.Replicator != nil):
		return bad("SyncMode = sync needs the default replicator (Replication on, a PeerListen address, no Replicator)")
	case c.SyncMode == SyncSync && c.Engine.Sync == engine.SyncInterval:
		// A standby acknowledges "durable" only once it fsynced; with
		// interval sync the active (and a standby's own promise) would not
		// be, so a write acknowledged to a client could vanish.
		return bad("--wal-sync interval (formerly --sync interval; Engine.Sync) with --sync-mode sync (SyncMode): sync mode acknowledges only fsynced writes; use --wal-sync fsync, or --sync-mode async")
	}
	if err := c.ClientTLS.Validate(); err != nil {
		return bad("ClientTLS: %v", err)
	}
	if err := c.Peer.TLS.Validate(); err != nil {
		return bad("Peer.TLS: %v", err)
	}
	if err := c.HA.Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if c.TickInterval >= c.HA.FenceMargin {
		return bad("TickInterval = %v: must be < HA.FenceMargin (%v), or the loop could notice the write deadline too late", c.TickInterval, c.HA.FenceMargin)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// advertise returns adv, or the bound address with an unspecified host
// replaced by the hostname.
func advertise(adv string, bound net.Addr) string {
	if adv != "" {
		return adv
	}
	if bound == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return bound.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		host = h
	}
	return net.JoinHostPort(host, port)
}
