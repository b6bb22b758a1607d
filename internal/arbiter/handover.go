package arbiter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/failpoint"
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
	if err := failpoint.Inject("arbiter/txn-ambiguous"); err != nil {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: %w", g.name, target, err)
	}
	if !tr.Succeeded {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: a key changed under it: %w", g.name, target, ErrContention)
	}
	// Failpoint "arbiter/handover-after-commit": the transaction committed
	// (the target holds the leader key) but the caller gets an error, as
	// when the reply is lost.
	if err := failpoint.Inject("arbiter/handover-after-commit"); err != nil {
		return 0, fmt.Errorf("arbiter: handover in %s to %s: %w", g.name, target, err)
	}
	return next, nil
}

// ConfirmLeader settles whether s still holds the leader key at epoch,
// after an operation on it (a Handover) failed with an unknown outcome.
// If the key is on s's lease at epoch, it is rewritten in place (same
// value, same lease, same create revision) in a transaction that compares
// its mod revision: from then on, no transaction prepared against the key
// as it was before (a Handover still in flight at the arbiter) can land.
// So mine=true means the lead stays with s and nothing read earlier can
// take it away; mine=false means it does not hold it (cur is the leader
// key now, nil if none). A lost lease (ErrLeaseLost) is reported as
// mine=false with a nil error: the key went with the lease. Any other
// error leaves the question open.
func (g *Group) ConfirmLeader(ctx context.Context, s *Session, epoch uint64) (mine bool, cur *Leader, err error) {
	if err := checkName("group", g.name); err != nil {
		return false, nil, err
	}
	lk := leaderKey(g.name)
	for range maxCampaignAttempts {
		if err := failpoint.Inject("arbiter/confirm-leader"); err != nil {
			return false, nil, fmt.Errorf("arbiter: confirm leader of %s: %w", g.name, err)
		}
		resp, err := g.c.cli.Get(ctx, lk)
		if err != nil {
			return false, nil, fmt.Errorf("arbiter: confirm leader of %s: read: %w", g.name, err)
		}
		kv := firstKV(resp.Kvs)
		if kv == nil {
			return false, nil, nil
		}
		l, err := decodeLeader(kv)
		if err != nil {
			return false, nil, err
		}
		if kv.Lease != s.LeaseID() || l.Epoch != epoch {
			return false, l, nil
		}
		tr, err := g.c.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(lk), "=", kv.ModRevision),
			clientv3.Compare(clientv3.LeaseValue(lk), "=", s.id),
		).Then(clientv3.OpPut(lk, string(kv.Value), clientv3.WithLease(s.id))).Commit()
		if err != nil {
			err = leaseErr(fmt.Sprintf("confirm leader of %s", g.name), err)
			if errors.Is(err, ErrLeaseLost) {
				return false, nil, nil
			}
			return false, nil, err
		}
		if tr.Succeeded {
			return true, l, nil
		}
		// The key changed between the read and the write: read again.
	}
	return false, nil, fmt.Errorf("arbiter: confirm leader of %s: %d attempts: %w", g.name, maxCampaignAttempts, ErrContention)
}

// ForceSyncSetOptions are the overrides of ForceSyncSet.
type ForceSyncSetOptions struct {
	// EvenIfSyncMembersAlive writes the set although a member of the
	// current sync set still has a live member key. Such a member holds
	// every acknowledged write and may be about to win the election
	// (the leader key is absent during every normal election gap):
	// replacing the set then throws its writes away for nothing.
	EvenIfSyncMembersAlive bool
}

// ForceSyncSet is the operator's override for a group that cannot elect
// anybody (no member of the sync set is alive): if there is no leader and
// no member of the current sync set (other than those in nodes) has a live
// member key, it writes the sync set {nodes} at the current epoch, so
// those nodes may campaign. One transaction compares the leader key
// (absent), the epoch and sync keys (as read) and the absence of the live
// sync-set members' keys, so a member that comes back meanwhile stops it.
// Writes a member of the old set acknowledged may be lost; the caller must
// say so.
//
// It fails with ErrContention when a leader exists or a compared key
// changed, and with ErrSyncMembersAlive (naming them) when a member of the
// sync set is alive and opts.EvenIfSyncMembersAlive is false.
func (g *Group) ForceSyncSet(ctx context.Context, nodes []string, opts ForceSyncSetOptions) error {
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
	rd, err := g.c.cli.Txn(ctx).Then(clientv3.OpGet(ek), clientv3.OpGet(sk)).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: force sync set of %s: read: %w", g.name, err)
	}
	epochKV := firstKV(rd.Responses[0].GetResponseRange().Kvs)
	syncKV := firstKV(rd.Responses[1].GetResponseRange().Kvs)
	cur, err := decodeEpoch(epochKV)
	if err != nil {
		return err
	}
	cmps := append([]clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
		clientv3.Compare(clientv3.ModRevision(ek), "=", modRev(epochKV)),
		clientv3.Compare(clientv3.ModRevision(sk), "=", modRev(syncKV)),
	}, memberCmps...)
	if syncKV != nil {
		old, err := decodeSync(syncKV)
		if err != nil {
			return err
		}
		var alive []string
		for _, m := range old.Nodes {
			if slices.Contains(nodes, m) {
				continue
			}
			for _, key := range syncMemberKeys(g.name, m) {
				if opts.EvenIfSyncMembersAlive {
					continue
				}
				resp, err := g.c.cli.Get(ctx, key, clientv3.WithCountOnly())
				if err != nil {
					return fmt.Errorf("arbiter: force sync set of %s: read member %s: %w", g.name, m, err)
				}
				if resp.Count > 0 {
					alive = append(alive, m)
					break
				}
				// Still absent when the set is written.
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
			}
		}
		if len(alive) > 0 {
			slices.Sort(alive)
			alive = slices.Compact(alive)
			return fmt.Errorf("arbiter: force sync set of %s: sync set %v: %w", g.name, old.Nodes, &SyncMembersAliveError{Members: alive})
		}
	}
	tr, err := g.c.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(sk, encodeJSON(SyncSet{Epoch: cur, Nodes: normNodes(nodes)}))).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: force sync set of %s: %w", g.name, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("arbiter: force sync set of %s: the group has a leader (use a switchover), or its sync set or a sync-set member came back meanwhile: %w", g.name, ErrContention)
	}
	return nil
}

// SyncMembersAliveError is returned (wrapped) by ForceSyncSet when members
// of the current sync set have live member keys; it matches
// ErrSyncMembersAlive with errors.Is.
type SyncMembersAliveError struct {
	Members []string // the live members, sorted
}

func (e *SyncMembersAliveError) Error() string {
	return fmt.Sprintf("%v: %s", ErrSyncMembersAlive, strings.Join(e.Members, ", "))
}

// Is makes errors.Is(err, ErrSyncMembersAlive) true.
func (e *SyncMembersAliveError) Is(target error) bool { return target == ErrSyncMembersAlive }

// syncMemberKeys are the member keys that show a sync-set entry alive: the
// entry as a node id, and, for an entry "node@incarnation", the node id
// alone (either is enough to refuse).
func syncMemberKeys(group, entry string) []string {
	keys := []string{memberKey(group, entry)}
	if id, _, ok := strings.Cut(entry, "@"); ok && id != "" {
		keys = append(keys, memberKey(group, id))
	}
	return keys
}
