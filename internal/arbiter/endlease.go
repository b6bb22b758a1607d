package arbiter

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EndLeaderLease revokes leaseID if the group's leader key is still bound
// to it, so the leader key and that node's member key vanish at once
// instead of when the lease expires. It reports whether it revoked the
// lease; a leader key on another lease (a new leader already) or no leader
// key at all is not an error and revokes nothing.
//
// A standby calls it when the leader's process is evidently gone (its
// peer port refuses connections; ha.Config.EndDeadLeaderLease says when
// that is safe). Lease IDs are never reused by etcd, so revoking the
// lease read from the leader key can end no other session than that
// leader's.
func (g *Group) EndLeaderLease(ctx context.Context, leaseID int64) (bool, error) {
	if err := checkName("group", g.name); err != nil {
		return false, err
	}
	l, _, err := g.Leader(ctx)
	if err != nil {
		return false, err
	}
	if l == nil || l.LeaseID != leaseID || leaseID == 0 {
		return false, nil
	}
	if _, err := g.c.cli.Revoke(ctx, clientv3.LeaseID(leaseID)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return false, nil // expired meanwhile
		}
		return false, fmt.Errorf("arbiter: end leader lease %x of %s: %w", leaseID, g.name, err)
	}
	return true, nil
}
