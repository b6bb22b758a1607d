package coord

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchDeadActives shortens a takeover after a coordinator process dies:
// while this coordinator waits as a standby for a role, it probes the
// role's active's side port (its member key's addr) every ProbeInterval;
// when a TCP connect is refused twice in a row — no process listens there,
// the active is gone — it revokes the active's session lease, so the role
// moves now instead of when the lease expires. This is safe whatever the
// truth: a live coordinator whose lease is revoked drops its roles, and
// its writes are fenced. A silent host death (timeouts, no refusal) still
// takes the TTL. Runs until ctx ends.
func (c *Coordinator) watchDeadActives(ctx context.Context) {
	refused := map[int64]int{} // lease -> consecutive refusals
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		targets := c.activesToProbe(ctx)
		seen := map[int64]bool{}
		for lease, addr := range targets {
			seen[lease] = true
			conn, err := net.DialTimeout("tcp", addr, c.cfg.ProbeInterval)
			if err == nil {
				conn.Close()
				refused[lease] = 0
				continue
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				refused[lease] = 0
				continue
			}
			refused[lease]++
			if refused[lease] < 2 {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = c.cli.Revoke(rctx, clientv3.LeaseID(lease))
			cancel()
			if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
				c.log.Warn("coordinator: ended a dead active's session (its side port refuses connections)",
					"cluster", c.cfg.Cluster, "id", c.cfg.ID, "addr", addr, "lease", lease)
				delete(refused, lease)
			}
		}
		for l := range refused {
			if !seen[l] {
				delete(refused, l)
			}
		}
	}
}

// activesToProbe returns, by lease, the side address of each other
// coordinator that is the active of a role this one campaigns for and
// does not hold.
func (c *Coordinator) activesToProbe(ctx context.Context) map[int64]string {
	held := c.Leads()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	r, err := c.cli.Get(rctx, clusterPrefix(c.cfg.Cluster)+"roles/", clientv3.WithPrefix())
	if err != nil {
		return nil
	}
	type key struct {
		id    string
		lease int64
		rev   int64
	}
	oldest := map[string]key{}
	for _, kv := range r.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), clusterPrefix(c.cfg.Cluster)+"roles/")
		role, _, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		if k, ok := oldest[role]; !ok || kv.CreateRevision < k.rev {
			oldest[role] = key{string(kv.Value), kv.Lease, kv.CreateRevision}
		}
	}
	want := map[string]int64{} // coordinator id -> lease
	for _, role := range c.cfg.Roles {
		k, ok := oldest[role]
		if _, mine := held[role]; mine || !ok || k.id == c.cfg.ID || k.lease == 0 {
			continue
		}
		want[k.id] = k.lease
	}
	if len(want) == 0 {
		return nil
	}
	mr, err := c.cli.Get(rctx, coordsPrefix(c.cfg.Cluster), clientv3.WithPrefix())
	if err != nil {
		return nil
	}
	out := map[int64]string{}
	for _, kv := range mr.Kvs {
		id := strings.TrimPrefix(string(kv.Key), coordsPrefix(c.cfg.Cluster))
		lease, ok := want[id]
		if !ok || kv.Lease != lease {
			continue
		}
		var m Member
		if jsonUnmarshal(kv.Value, &m) == nil && m.Addr != "" {
			out[lease] = m.Addr
		}
	}
	return out
}
