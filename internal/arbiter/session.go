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
//
// The etcd client gives up on a keep-alive stream when it has heard no
// answer for one TTL, even when the lease still lives at the arbiter: that
// happens when the etcd member the client was attached to dies or loses
// its leader, and the client needs longer than the TTL to move to another
// member and see a new etcd leader elected (a new etcd leader extends
// every lease by its election timeout, so the lease survives). A Session
// does not end then: it asks the arbiter whether the lease still exists
// (a keep-alive round trip, retried on the live members) and, if it does,
// resumes keeping it alive with a new concurrency.Session on the same
// lease. Done closes only when the lease is known to be gone (the arbiter
// answered "lease not found"), or on Close, or when the Client closes.
//
// Fencing does not depend on Done: a caller proves the lease with
// KeepAliveOnce and stops acting as the lease holder at its own deadline
// (see package ha); Done is the signal to drop the session and its keys.
type Session struct {
	cli *clientv3.Client
	id  clientv3.LeaseID
	ttl time.Duration

	ctx    context.Context // the session's life: ends on Close or client close
	cancel context.CancelFunc
	done   chan struct{} // closed by supervise when the session has ended

	mu      sync.Mutex
	cs      *concurrency.Session // current keep-alive; guarded by mu
	resumes int                  // keep-alives resumed after a lapse; guarded by mu
	endErr  error                // why the session ended; guarded by mu
	revoked bool                 // a Close revoked the lease (or found it gone); guarded by mu
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
	sctx, cancel := context.WithCancel(cli.Ctx())
	s := &Session{cli: cli, id: grant.ID, ttl: time.Duration(grant.TTL) * time.Second,
		ctx: sctx, cancel: cancel, done: make(chan struct{})}
	cs, err := s.keepAlive()
	if err != nil {
		cancel()
		rctx, rcancel := context.WithTimeout(context.Background(), s.ttl)
		_, _ = cli.Revoke(rctx, grant.ID)
		rcancel()
		return nil, fmt.Errorf("arbiter: keep lease %x alive: %w", int64(grant.ID), err)
	}
	s.cs = cs
	go s.supervise()
	return s, nil
}

// keepAlive starts a concurrency.Session keeping s's lease alive for as
// long as s.ctx lives.
func (s *Session) keepAlive() (*concurrency.Session, error) {
	return concurrency.NewSession(s.cli,
		concurrency.WithLease(s.id),
		concurrency.WithTTL(int(s.ttl/time.Second)),
		concurrency.WithContext(s.ctx))
}

// supervise waits for the current keep-alive to stop and then either
// resumes it (the lease still exists) or ends the session.
func (s *Session) supervise() {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	for {
		s.mu.Lock()
		cs := s.cs
		s.mu.Unlock()
		select {
		case <-cs.Done():
		case <-s.ctx.Done():
		}
		if s.ctx.Err() != nil {
			s.end(fmt.Errorf("arbiter: session of lease %x closed", int64(s.id)))
			return
		}
		// The keep-alive stream gave up. Ask the arbiter (any live member)
		// whether the lease still exists, until it answers either way.
		for {
			err := s.KeepAliveOnceTimeout(s.ttl / 2)
			if errors.Is(err, ErrLeaseLost) {
				s.end(err)
				return
			}
			if err == nil {
				ncs, kerr := s.keepAlive()
				if kerr == nil {
					s.mu.Lock()
					s.cs = ncs
					s.resumes++
					s.mu.Unlock()
					backoff = 50 * time.Millisecond
					break
				}
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				s.end(fmt.Errorf("arbiter: session of lease %x closed", int64(s.id)))
				return
			}
			backoff = min(2*backoff, s.ttl/4)
		}
	}
}

func (s *Session) end(err error) {
	s.mu.Lock()
	if s.endErr == nil {
		s.endErr = err
	}
	s.mu.Unlock()
	s.cancel()
}

// LeaseID is the session's etcd lease id.
func (s *Session) LeaseID() int64 { return int64(s.id) }

// TTL is the lease TTL the server granted.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done closes when the session has ended: its lease is known to be gone
// at the arbiter (revoked or expired), or Close was called, or the Client
// closed. A keep-alive that lapsed while the lease still exists does not
// close it (see Session). A new Session is needed after it.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended (nil while Done is open). It wraps
// ErrLeaseLost when the arbiter reported the lease gone.
func (s *Session) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

// Resumes counts the times the background keep-alive lapsed and was
// resumed on the same lease.
func (s *Session) Resumes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes
}

// KeepAliveOnce renews the lease once, in its own round trip. A caller that
// notes the time before calling knows, on success, that the lease lives at
// least until that time + TTL() at the arbiter; it fails with ErrLeaseLost
// when the lease no longer exists.
func (s *Session) KeepAliveOnce(ctx context.Context) error {
	resp, err := s.cli.KeepAliveOnce(ctx, s.id)
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

// KeepAliveOnceTimeout is KeepAliveOnce bounded by d and by the session's
// life.
func (s *Session) KeepAliveOnceTimeout(d time.Duration) error {
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	return s.KeepAliveOnce(ctx)
}

// Close stops renewing and revokes the lease now, so the keys on it (member
// and leader keys) vanish at once: a graceful resign. Revoking a lease that
// is already gone is not an error, and Close after a successful Close does
// nothing. If ctx ends first, Close fails and the lease is left to expire
// (a later Close may try again). Done closes shortly after Close starts.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked {
		return nil
	}
	s.cancel()
	if s.endErr == nil {
		s.endErr = fmt.Errorf("arbiter: session of lease %x closed", int64(s.id))
	}
	_, err := s.cli.Revoke(ctx, s.id)
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
