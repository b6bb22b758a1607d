package proxy

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// backends keeps one gRPC client connection per node address. A
// connection stays open while its node is the active or has requests in
// flight; others are closed once idle for IdleBackendTimeout.
type backends struct {
	opts []grpc.DialOption
	idle time.Duration

	mu     sync.Mutex
	conns  map[string]*backend
	closed bool
}

type backend struct {
	cc       *grpc.ClientConn
	inflight int
	lastUsed time.Time
}

// newBackends dials the nodes with TLS when tlsCfg is set (the node's
// certificate must name the address it publishes), in plaintext
// otherwise.
func newBackends(maxMsg int, idle time.Duration, tlsCfg *tls.Config) *backends {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	return &backends{
		idle:  idle,
		conns: map[string]*backend{},
		opts: []grpc.DialOption{
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
			// Reconnect quickly: a node that comes back, or the next active
			// on a reused address, should be reachable within a second.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 2 * time.Second,
			}),
			// Notice a vanished node (no RST: machine or network gone). The
			// node accepts pings every 5 s.
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
		},
	}
}

// acquire returns the connection to addr, creating it if needed; release
// must be called when the call ends.
func (b *backends) acquire(addr string) (*grpc.ClientConn, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, fmt.Errorf("proxy: shutting down")
	}
	be := b.conns[addr]
	if be == nil {
		cc, err := grpc.NewClient("passthrough:///"+addr, b.opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("proxy: connect to %s: %w", addr, err)
		}
		be = &backend{cc: cc}
		b.conns[addr] = be
	}
	be.inflight++
	be.lastUsed = time.Now()
	return be.cc, func() {
		b.mu.Lock()
		be.inflight--
		be.lastUsed = time.Now()
		b.mu.Unlock()
	}, nil
}

// prune closes idle connections to addresses other than keep.
func (b *backends) prune(keep string, now time.Time) {
	b.mu.Lock()
	var drop []*grpc.ClientConn
	for addr, be := range b.conns {
		if addr != keep && be.inflight == 0 && now.Sub(be.lastUsed) >= b.idle {
			drop = append(drop, be.cc)
			delete(b.conns, addr)
		}
	}
	b.mu.Unlock()
	for _, cc := range drop {
		cc.Close()
	}
}

// close closes every connection; later acquires fail.
func (b *backends) close() {
	b.mu.Lock()
	b.closed = true
	conns := b.conns
	b.conns = map[string]*backend{}
	b.mu.Unlock()
	for _, be := range conns {
		be.cc.Close()
	}
}
