// Package groupclient gives in-process Milvus clients of HA groups, for the
// cluster's coordinators and proxies: one leader-following proxy
// (internal/proxy) per group, on loopback, started on first use and reused.
// A call through it rides through the group's failovers exactly as a
// client of `tandem proxy` does: held while the group has no active,
// retried when provably not applied, and writes deduplicated by request id.
package groupclient

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/proxy"
)

// MaxMsgBytes bounds one message between a pool client and its group.
const MaxMsgBytes = 256 << 20

// Pool holds one client per group. Safe for concurrent use.
type Pool struct {
	arbiter []string
	dial    arbiter.DialOptions
	hold    time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	groups map[string]*entry // guarded by mu
	closed bool              // guarded by mu
}

type entry struct {
	p   *proxy.Proxy
	cc  *grpc.ClientConn
	cli milvuspb.MilvusServiceClient
}

// NewPool returns a pool of clients of the groups recorded in the arbiter
// at endpoints; hold bounds how long a call waits for a group's active.
func NewPool(endpoints []string, dial arbiter.DialOptions, hold time.Duration, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.Default()
	}
	return &Pool{arbiter: endpoints, dial: dial, hold: hold, log: log, groups: map[string]*entry{}}
}

// Client returns the client of group, starting its proxy on first use.
func (p *Pool) Client(ctx context.Context, group string) (milvuspb.MilvusServiceClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("groupclient: pool closed")
	}
	if e, ok := p.groups[group]; ok {
		return e.cli, nil
	}
	cfg := proxy.DefaultConfig()
	cfg.Group, cfg.Arbiter, cfg.Dial = group, p.arbiter, p.dial
	cfg.Listen, cfg.HTTPListen, cfg.REST = "127.0.0.1:0", "off", false
	cfg.Hold, cfg.MaxMsgBytes = p.hold, MaxMsgBytes
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.Dial.Logger == nil {
		cfg.Dial.Logger = cfg.Logger
	}
	px, err := proxy.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("groupclient: group %s: %w", group, err)
	}
	cc, err := grpc.NewClient(px.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMsgBytes), grpc.MaxCallSendMsgSize(MaxMsgBytes)))
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		px.Close(cctx)
		cancel()
		return nil, fmt.Errorf("groupclient: group %s: %w", group, err)
	}
	e := &entry{p: px, cc: cc, cli: milvuspb.NewMilvusServiceClient(cc)}
	p.groups[group] = e
	return e.cli, nil
}

// Close stops every group's proxy.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for g, e := range p.groups {
		e.cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e.p.Close(ctx)
		cancel()
		delete(p.groups, g)
	}
}
