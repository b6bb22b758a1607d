package arbiter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Session is one etcd lease kept alive in the background by a
// concurrency.Session. The member and leader keys a node writes are bound
// to it, so they vanish when it ends.
type Session struct {
	cli *clientv3.Client
	cs  *concurrency.Session
	ttl time.Duration

	mu      sync.Mutex
	revoked bool // a Close has revoked the lease (or found it gone)
}

// NewSession grants a lease and starts keeping it alive until Close, the
// lease's loss, or the Client's Close. ttl is rounded up to whole seconds
// (etcd lease TTLs are seconds) and must be > 0; the server may raise it to
// its minimum lease TTL (TTL reports the granted value). ctx bounds only the
// grant, not the session's life.
func (g *Group) NewSession(ctx context.Context, ttl time.Duration) (*Session, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("arbiter: session ttl = %v: must be > 0: %w", ttl, ErrInvalidConfig)
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	cli := g.c.cli
	grant, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("arbiter: grant lease (ttl %ds): %w", secs, err)
	}
	// The session's keep-alive lives as long as the client (cli.Ctx());
	// Close stops it.
	cs, err := concurrency.NewSession(cli,
		concurrency.WithLease(grant.ID),
		concurrency.WithTTL(int(grant.TTL)),
		concurrency.WithContext(cli.Ctx()))
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Duration(grant.TTL)*time.Second)
		_, _ = cli.Revoke(rctx, grant.ID)
		cancel()
		return nil, fmt.Errorf("arbiter: keep lease %x alive: %w", int64(grant.ID), err)
	}
	return &Session{cli: cli, cs: cs, ttl: time.Duration(grant.TTL) * time.Second}, nil
}

// LeaseID is the session's etcd lease id.
func (s *Session) LeaseID() int64 { return int64(s.cs.Lease()) }

// TTL is the lease TTL the server granted.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done closes when the lease is gone or no longer being renewed: revoked,
// expired, not renewed within its TTL (arbiter unreachable), or the session
// or client closed. It is the one signal that the session has ended; a
// new Session is needed after it.
func (s *Session) Done() <-chan struct{} { return s.cs.Done() }

// KeepAliveOnce renews the lease once, in its own round trip. A caller that
// notes the time before calling knows, on success, that the lease lives at
// least until that time + TTL() at the arbiter; it fails with ErrLeaseLost
// when the lease no longer exists.
func (s *Session) KeepAliveOnce(ctx context.Context) error {
	resp, err := s.cli.KeepAliveOnce(ctx, s.cs.Lease())
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("arbiter: renew lease %x: %w", s.LeaseID(), ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("arbiter: renew lease %x: %w", s.LeaseID(), err)
	case resp.TTL <= 0:
		return fmt.Errorf("arbiter: renew lease %x: %w", s.LeaseID(), ErrLeaseLost)
	}
	return nil
}

// Close stops renewing and revokes the lease now, so the keys on it (member
// and leader keys) vanish at once: a graceful resign. Revoking a lease that
// is already gone is not an error, and Close after a successful Close does
// nothing. If ctx ends first, Close fails and the lease is left to expire
// (a later Close may try again).
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked {
		return nil
	}
	s.cs.Orphan()
	_, err := s.cli.Revoke(ctx, s.cs.Lease())
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("arbiter: revoke lease %x: %w", s.LeaseID(), err)
	}
	s.revoked = true
	return nil
}

// leaseErr maps etcd's "lease not found" to ErrLeaseLost.
func leaseErr(op string, err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("arbiter: %s: %w: %w", op, ErrLeaseLost, err)
	}
	return fmt.Errorf("arbiter: %s: %w", op, err)
}
