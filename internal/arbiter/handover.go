package arbiter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Handover passes the leader key from s (the leader at epoch) to the live
// member target, in one transaction: the leader key is rewritten on the
// target's lease (the lease its member key is on) with epoch = stored
// epoch + 1, and the epoch is stored. It compares the leader key (mine, as
// read), the epoch key (as read) and the lease of the target's member key,
// so it lands only if the lead and the target's session did not change
// meanwhile (a compare race with status writes is retried). The target sees its own key on its
// own lease and takes the lead; no election runs.
//
// The caller must have stopped acknowledging writes and made sure the
// target holds everything it wrote (a planned switchover). It fails with
// ErrNotLeader if s does not hold the leader key at epoch, ErrNoMember if
// target has no live member key, and ErrContention if a compared key
// changed (the caller may retry).
func (g *Group) Handover(ctx context.Context, s *Session, epoch uint64, target string) (uint64, error) {
	var err error
	for range maxCampaignAttempts {
		var next uint64
		next, err = g.handoverOnce(ctx, s, epoch, target)
		if !errors.Is(err, ErrContention) {
			return next, err
		}
	}
	return 0, err
}

func (g *Group) handoverOnce(ctx context.Context, s *Session, epoch uint64, target string) (uint64, error) {
	if err := checkName("group", g.name); err != nil {
		return 0, err
	}
	if err := checkName("node id", target); err != nil {
		return 0, err
	}
	lk, ek, mk := leaderKey(g.name), epochKey(g.name), memberKey(g.name, target)
	kv := g.c.cli
	rd, err := kv.Txn(ctx).Then(clientv3.OpGet(lk), clientv3.OpGet(ek), clientv3.OpGet(mk)).Commit()
	if err != nil {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: read: %w", g.name, target, err)
	}
	leaderKV := firstKV(rd.Responses[0].GetResponseRange().Kvs)
	epochKV := firstKV(rd.Responses[1].GetResponseRange().Kvs)
	memberKV := firstKV(rd.Responses[2].GetResponseRange().Kvs)
	if leaderKV == nil || leaderKV.Lease != s.LeaseID() {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: %w", g.name, target, ErrNotLeader)
	}
	l, err := decodeLeader(leaderKV)
	if err != nil {
		return 0, err
	}
	if l.Epoch != epoch {
		return 0, fmt.Errorf("arbiter: handover in %s to %s at epoch %d (leader epoch %d): %w", g.name, target, epoch, l.Epoch, ErrNotLeader)
	}
	if memberKV == nil || memberKV.Lease == 0 {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: %w", g.name, target, ErrNoMember)
	}
	m, err := decodeMember(memberKV)
	if err != nil {
		return 0, err
	}
	cur, err := decodeEpoch(epochKV)
	if err != nil {
		return 0, err
	}
	next := cur + 1
	nl := Leader{NodeID: target, Addr: m.Addr, PeerAddr: m.PeerAddr, Epoch: next, LeaseID: memberKV.Lease}
	tr, err := kv.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(lk), "=", leaderKV.ModRevision),
		clientv3.Compare(clientv3.LeaseValue(lk), "=", s.id),
		clientv3.Compare(clientv3.ModRevision(ek), "=", modRev(epochKV)),
		// The target's member key may be rewritten (status reports) but
		// must still be on the same lease: the new leader key goes on it.
		clientv3.Compare(clientv3.LeaseValue(mk), "=", memberKV.Lease),
	).Then(
		clientv3.OpPut(lk, encodeJSON(nl), clientv3.WithLease(clientv3.LeaseID(memberKV.Lease))),
		clientv3.OpPut(ek, strconv.FormatUint(next, 10)),
	).Commit()
	if err != nil {
		return 0, leaseErr(fmt.Sprintf("handover in %s to %s", g.name, target), err)
	}
	if !tr.Succeeded {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: a key changed under it: %w", g.name, target, ErrContention)
	}
	return next, nil
}

// ForceSyncSet is the operator's override for a group that cannot elect
// anybody (no member of the sync set is alive): if there is no leader, it
// writes the sync set {nodes} at the current epoch, so those nodes may
// campaign. Writes a member of the old set acknowledged may be lost; the
// caller must say so. It fails with ErrContention when a leader exists.
func (g *Group) ForceSyncSet(ctx context.Context, nodes []string) error {
	if err := checkName("group", g.name); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := checkName("node id", n); err != nil {
			return err
		}
	}
	// A live member is named with its incarnation (SyncSet.Admits).
	nodes, memberCmps, err := g.qualifySyncMembers(ctx, nodes)
	if err != nil {
		return err
	}
	lk, ek, sk := leaderKey(g.name), epochKey(g.name), syncKey(g.name)
	rd, err := g.c.cli.Get(ctx, ek)
	if err != nil {
		return fmt.Errorf("arbiter: force sync set of %s: read epoch: %w", g.name, err)
	}
	epochKV := firstKV(rd.Kvs)
	cur, err := decodeEpoch(epochKV)
	if err != nil {
		return err
	}
	tr, err := g.c.cli.Txn(ctx).If(append([]clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
		clientv3.Compare(clientv3.ModRevision(ek), "=", modRev(epochKV)),
	}, memberCmps...)...).Then(clientv3.OpPut(sk, encodeJSON(SyncSet{Epoch: cur, Nodes: normNodes(nodes)}))).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: force sync set of %s: %w", g.name, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("arbiter: force sync set of %s: the group has a leader (use a switchover): %w", g.name, ErrContention)
	}
	return nil
}
