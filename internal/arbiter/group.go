package arbiter

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// Group is a handle on one HA group's keys. It holds no state besides the
// name and is safe for concurrent use.
type Group struct {
	c    *Client
	name string
}

// Name is the group's name.
func (g *Group) Name() string { return g.name }

// maxCampaignAttempts bounds Campaign's read-compare-retry loop.
const maxCampaignAttempts = 16

// PutMember writes st under members/<st.NodeID> on s's lease. A zero
// UpdatedUnixMs is set to the current time.
func (g *Group) PutMember(ctx context.Context, s *Session, st MemberStatus) error {
	if err := checkName("group", g.name); err != nil {
		return err
	}
	if err := checkName("node id", st.NodeID); err != nil {
		return err
	}
	if st.UpdatedUnixMs == 0 {
		st.UpdatedUnixMs = time.Now().UnixMilli()
	}
	_, err := g.c.cli.Put(ctx, memberKey(g.name, st.NodeID), encodeJSON(st), clientv3.WithLease(s.id))
	if err != nil {
		return leaseErr(fmt.Sprintf("put member %s/%s", g.name, st.NodeID), err)
	}
	if err := failpoint.Inject("arbiter/txn-ambiguous"); err != nil {
		return fmt.Errorf("arbiter: put member %s/%s: %w", g.name, st.NodeID, err)
	}
	return nil
}

// Members returns the live members' statuses sorted by NodeID, and the
// revision they were read at.
func (g *Group) Members(ctx context.Context) ([]MemberStatus, int64, error) {
	if err := checkName("group", g.name); err != nil {
		return nil, 0, err
	}
	resp, err := g.c.cli.Get(ctx, membersPrefix(g.name), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("arbiter: read members of %s: %w", g.name, err)
	}
	ms, err := decodeMembers(resp.Kvs)
	if err != nil {
		return nil, 0, err
	}
	return ms, resp.Header.Revision, nil
}

func decodeMembers(kvs []*mvccKV) ([]MemberStatus, error) {
	out := make([]MemberStatus, 0, len(kvs))
	for _, kv := range kvs {
		st, err := decodeMember(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b MemberStatus) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

// Leader returns the current leader (nil when the leader key is absent) and
// the revision it was read at.
func (g *Group) Leader(ctx context.Context) (*Leader, int64, error) {
	if err := checkName("group", g.name); err != nil {
		return nil, 0, err
	}
	resp, err := g.c.cli.Get(ctx, leaderKey(g.name))
	if err != nil {
		return nil, 0, fmt.Errorf("arbiter: read leader of %s: %w", g.name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, resp.Header.Revision, nil
	}
	l, err := decodeLeader(resp.Kvs[0])
	if err != nil {
		return nil, 0, err
	}
	return l, resp.Header.Revision, nil
}

// Epoch returns the last epoch handed out (0 if none yet).
func (g *Group) Epoch(ctx context.Context) (uint64, error) {
	if err := checkName("group", g.name); err != nil {
		return 0, err
	}
	resp, err := g.c.cli.Get(ctx, epochKey(g.name))
	if err != nil {
		return 0, fmt.Errorf("arbiter: read epoch of %s: %w", g.name, err)
	}
	return decodeEpoch(firstKV(resp.Kvs))
}

// Candidate says who campaigns, beyond what the leader key shows.
type Candidate struct {
	// Incarnation is the candidate's data dir incarnation ("" for a caller
	// without one: it matches only plain sync set entries).
	Incarnation string
	// Legacy: Incarnation was adopted by a data dir that existed before
	// incarnations; the candidate also matches a plain entry naming it
	// (SyncSet.Admits).
	Legacy bool
	// Mode is the candidate's acknowledgement mode (ModeSync, ModeAsync).
	// When the group has a recorded mode that differs, Campaign fails
	// with ErrModeMismatch; a win records it when the group has none. ""
	// checks and records nothing.
	Mode string
}

// Campaign tries to become the leader, in one transaction: if the leader
// key is absent (and, when the group has a sync set, the set admits the
// candidate), it creates the leader key on s's lease with epoch = stored
// epoch + 1 and stores that epoch; the first win with a c.Mode also
// records the group's mode. The epoch, sync and mode keys' mod
// revisions, as read, are compared, so two campaigners never get the
// same epoch and a sync set written under the read is noticed.
//
// Eligibility is decided from the arbiter's state only, never from the
// candidate's own configuration (docs/architecture.md §3):
//   - the group has a sync set: only a candidate it admits may win
//     (SyncSet.Admits: node@incarnation, or a legacy plain entry), in
//     whatever mode the candidate runs;
//   - no sync set: no write was ever acknowledged synchronously (a sync
//     active acknowledges nothing before writing the set), so anyone may
//     win; the highest position is the callers' business.
//
// Results:
//   - won=true, epoch: the leader key is mine at epoch (also when it already
//     was mine, on this lease: a retry after an ambiguous failure is safe).
//   - won=false, nil error: another node holds the leader key.
//   - ErrNotInSyncSet: the sync set does not admit me.NodeID@c.Incarnation.
//   - ErrModeMismatch: the group's recorded mode is not c.Mode.
//   - ErrLeaseLost: s's lease is gone.
//
// me.Epoch, me.LeaseID and me.Incarnation are ignored (set from the
// outcome, s and c).
func (g *Group) Campaign(ctx context.Context, s *Session, me Leader, c Candidate) (won bool, epoch uint64, err error) {
	if err := checkName("group", g.name); err != nil {
		return false, 0, err
	}
	if err := checkName("node id", me.NodeID); err != nil {
		return false, 0, err
	}
	if c.Mode != "" && c.Mode != ModeSync && c.Mode != ModeAsync {
		return false, 0, fmt.Errorf("arbiter: campaign in %s as %s: mode %q: %w", g.name, me.NodeID, c.Mode, ErrInvalidConfig)
	}
	kv := g.c.cli
	lk, ek, sk, mk := leaderKey(g.name), epochKey(g.name), syncKey(g.name), modeKey(g.name)
	for range maxCampaignAttempts {
		// Read the four keys at one revision.
		rd, err := kv.Txn(ctx).Then(clientv3.OpGet(lk), clientv3.OpGet(ek), clientv3.OpGet(sk), clientv3.OpGet(mk)).Commit()
		if err != nil {
			return false, 0, fmt.Errorf("arbiter: campaign in %s: read: %w", g.name, err)
		}
		leaderKV := firstKV(rd.Responses[0].GetResponseRange().Kvs)
		epochKV := firstKV(rd.Responses[1].GetResponseRange().Kvs)
		syncKV := firstKV(rd.Responses[2].GetResponseRange().Kvs)
		modeKV := firstKV(rd.Responses[3].GetResponseRange().Kvs)
		if leaderKV != nil {
			if leaderKV.Lease == s.LeaseID() {
				l, err := decodeLeader(leaderKV)
				if err != nil {
					return false, 0, err
				}
				return true, l.Epoch, nil
			}
			return false, 0, nil
		}
		cur, err := decodeEpoch(epochKV)
		if err != nil {
			return false, 0, err
		}
		if modeKV != nil && c.Mode != "" {
			gm, err := decodeMode(modeKV)
			if err != nil {
				return false, 0, err
			}
			if gm.Mode != c.Mode {
				return false, 0, fmt.Errorf("arbiter: campaign in %s as %s: the group runs in %s mode, this node in %s mode: %w",
					g.name, me.NodeID, gm.Mode, c.Mode, ErrModeMismatch)
			}
		}
		if syncKV != nil {
			set, err := decodeSync(syncKV)
			if err != nil {
				return false, 0, err
			}
			if !set.Admits(me.NodeID, c.Incarnation, c.Legacy) {
				return false, 0, fmt.Errorf("arbiter: campaign in %s as %s: sync set %v: %w",
					g.name, SyncMember(me.NodeID, c.Incarnation), set.Nodes, ErrNotInSyncSet)
			}
		}
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
			clientv3.Compare(clientv3.ModRevision(ek), "=", modRev(epochKV)),
			clientv3.Compare(clientv3.ModRevision(sk), "=", modRev(syncKV)),
			clientv3.Compare(clientv3.ModRevision(mk), "=", modRev(modeKV)),
		}
		next := cur + 1
		me.Epoch, me.LeaseID, me.CreateRev, me.Incarnation = next, s.LeaseID(), 0, c.Incarnation
		ops := []clientv3.Op{
			clientv3.OpPut(lk, encodeJSON(me), clientv3.WithLease(s.id)),
			clientv3.OpPut(ek, strconv.FormatUint(next, 10)),
		}
		if modeKV == nil && c.Mode != "" {
			ops = append(ops, clientv3.OpPut(mk, encodeJSON(GroupMode{Mode: c.Mode, SetBy: me.NodeID})))
		}
		tr, err := kv.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return false, 0, leaseErr(fmt.Sprintf("campaign in %s as %s", g.name, me.NodeID), err)
		}
		if err := failpoint.Inject("arbiter/txn-ambiguous"); err != nil {
			return false, 0, fmt.Errorf("arbiter: campaign in %s as %s: %w", g.name, me.NodeID, err)
		}
		if tr.Succeeded {
			return true, next, nil
		}
		// Something changed since the read: read again.
	}
	return false, 0, fmt.Errorf("arbiter: campaign in %s as %s: %d attempts: %w", g.name, me.NodeID, maxCampaignAttempts, ErrContention)
}

// Mode returns the group's recorded acknowledgement mode, or nil if none
// was recorded yet.
func (g *Group) Mode(ctx context.Context) (*GroupMode, error) {
	if err := checkName("group", g.name); err != nil {
		return nil, err
	}
	resp, err := g.c.cli.Get(ctx, modeKey(g.name))
	if err != nil {
		return nil, fmt.Errorf("arbiter: read mode of %s: %w", g.name, err)
	}
	if kv := firstKV(resp.Kvs); kv != nil {
		return decodeMode(kv)
	}
	return nil, nil
}

// SetMode records mode as the group's acknowledgement mode (the
// operator's way to change it; see README "Changing a group's mode"). The
// group must be stopped: it fails with ErrGroupRunning while a member key
// or the leader key exists. Setting ModeAsync also deletes the sync set:
// an async active does not keep it, and a stale set would restrict every
// later election. Setting ModeSync leaves the keys as they are: with no
// sync set, the first election is by position, and the first sync active
// writes the set. In one transaction, compared against the read.
func (g *Group) SetMode(ctx context.Context, mode string) error {
	if err := checkName("group", g.name); err != nil {
		return err
	}
	if mode != ModeSync && mode != ModeAsync {
		return fmt.Errorf("arbiter: set mode of %s: %q: must be %s or %s: %w", g.name, mode, ModeSync, ModeAsync, ErrInvalidConfig)
	}
	lk, mp := leaderKey(g.name), membersPrefix(g.name)
	rd, err := g.c.cli.Txn(ctx).Then(clientv3.OpGet(lk), clientv3.OpGet(mp, clientv3.WithPrefix(), clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: set mode of %s: read: %w", g.name, err)
	}
	if n := len(rd.Responses[1].GetResponseRange().Kvs); n > 0 || len(rd.Responses[0].GetResponseRange().Kvs) > 0 {
		return fmt.Errorf("arbiter: set mode of %s: %d live member(s); stop every node of the group first: %w", g.name, n, ErrGroupRunning)
	}
	ops := []clientv3.Op{clientv3.OpPut(modeKey(g.name), encodeJSON(GroupMode{Mode: mode, SetBy: "operator"}))}
	if mode == ModeAsync {
		ops = append(ops, clientv3.OpDelete(syncKey(g.name)))
	}
	tr, err := g.c.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(mp).WithPrefix(), "=", 0),
	).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: set mode of %s: %w", g.name, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("arbiter: set mode of %s: a node started meanwhile; stop every node of the group first: %w", g.name, ErrGroupRunning)
	}
	return nil
}

// qualifySyncMembers returns nodes with each plain node id that has a
// live member key reporting an incarnation replaced by node@incarnation,
// and comparisons that hold while those member keys are unchanged.
func (g *Group) qualifySyncMembers(ctx context.Context, nodes []string) ([]string, []clientv3.Cmp, error) {
	out := make([]string, 0, len(nodes))
	var cmps []clientv3.Cmp
	for _, n := range nodes {
		if _, inc := ParseSyncMember(n); inc != "" {
			out = append(out, n)
			continue
		}
		mk := memberKey(g.name, n)
		resp, err := g.c.cli.Get(ctx, mk)
		if err != nil {
			return nil, nil, fmt.Errorf("arbiter: read member %s/%s: %w", g.name, n, err)
		}
		kv := firstKV(resp.Kvs)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(mk), "=", modRev(kv)))
		if kv == nil {
			out = append(out, n)
			continue
		}
		st, err := decodeMember(kv)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, SyncMember(n, st.Incarnation))
	}
	return out, cmps, nil
}

// Resign deletes the leader key if it is on s's lease; otherwise it does
// nothing. s stays alive (its member key stays); to resign and leave at
// once, Close the session instead.
func (g *Group) Resign(ctx context.Context, s *Session) error {
	if err := checkName("group", g.name); err != nil {
		return err
	}
	lk := leaderKey(g.name)
	_, err := g.c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(lk), "=", s.id)).
		Then(clientv3.OpDelete(lk)).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: resign in %s: %w", g.name, err)
	}
	if err := failpoint.Inject("arbiter/txn-ambiguous"); err != nil {
		return fmt.Errorf("arbiter: resign in %s: %w", g.name, err)
	}
	return nil
}

// IsLeader reports, with one linearizable read, whether the leader key
// exists on s's lease at epoch.
func (g *Group) IsLeader(ctx context.Context, s *Session, epoch uint64) (bool, error) {
	l, _, err := g.Leader(ctx)
	if err != nil {
		return false, err
	}
	return l != nil && l.LeaseID == s.LeaseID() && l.Epoch == epoch, nil
}

// SyncSet returns the sync set, or nil if none was written.
func (g *Group) SyncSet(ctx context.Context) (*SyncSet, error) {
	if err := checkName("group", g.name); err != nil {
		return nil, err
	}
	resp, err := g.c.cli.Get(ctx, syncKey(g.name))
	if err != nil {
		return nil, fmt.Errorf("arbiter: read sync set of %s: %w", g.name, err)
	}
	if kv := firstKV(resp.Kvs); kv != nil {
		return decodeSync(kv)
	}
	return nil, nil
}

// PutSyncSet writes the sync set {epoch, nodes} only if s holds the leader
// key at epoch; otherwise it fails with ErrNotLeader. The write compares the
// leader key's lease and mod revision as read, so it cannot land after the
// leader key changed hands, and the sync key's mod revision as read, so a
// write delayed in flight (its caller saw an error, then wrote S again)
// cannot land after a later write of S and undo it (ErrSyncSetChanged).
//
// Failpoint "arbiter/put-sync-set-before-txn": evaluated between the read
// and the transaction (pause: hold a write in flight).
func (g *Group) PutSyncSet(ctx context.Context, s *Session, epoch uint64, nodes []string) error {
	if err := checkName("group", g.name); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := checkName("node id", n); err != nil {
			return err
		}
	}
	lk, sk := leaderKey(g.name), syncKey(g.name)
	rd, err := g.c.cli.Txn(ctx).Then(clientv3.OpGet(lk), clientv3.OpGet(sk)).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: put sync set of %s: read leader: %w", g.name, err)
	}
	lkv := firstKV(rd.Responses[0].GetResponseRange().Kvs)
	skv := firstKV(rd.Responses[1].GetResponseRange().Kvs)
	if lkv == nil || lkv.Lease != s.LeaseID() {
		return fmt.Errorf("arbiter: put sync set of %s at epoch %d: %w", g.name, epoch, ErrNotLeader)
	}
	l, err := decodeLeader(lkv)
	if err != nil {
		return err
	}
	if l.Epoch != epoch {
		return fmt.Errorf("arbiter: put sync set of %s at epoch %d (leader epoch %d): %w", g.name, epoch, l.Epoch, ErrNotLeader)
	}
	if err := failpoint.Inject("arbiter/put-sync-set-before-txn"); err != nil {
		return fmt.Errorf("arbiter: put sync set of %s: %w", g.name, err)
	}
	val := encodeJSON(SyncSet{Epoch: epoch, Nodes: normNodes(nodes)})
	tr, err := g.c.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(lk), "=", lkv.ModRevision),
		clientv3.Compare(clientv3.LeaseValue(lk), "=", s.id),
		clientv3.Compare(clientv3.ModRevision(sk), "=", modRev(skv)),
	).Then(clientv3.OpPut(sk, val)).Else(clientv3.OpGet(lk)).Commit()
	if err != nil {
		return fmt.Errorf("arbiter: put sync set of %s: %w", g.name, err)
	}
	if err := failpoint.Inject("arbiter/txn-ambiguous"); err != nil {
		return fmt.Errorf("arbiter: put sync set of %s: %w", g.name, err)
	}
	if !tr.Succeeded {
		if now := firstKV(tr.Responses[0].GetResponseRange().Kvs); now != nil && now.ModRevision == lkv.ModRevision {
			return fmt.Errorf("arbiter: put sync set of %s at epoch %d: %w", g.name, epoch, ErrSyncSetChanged)
		}
		return fmt.Errorf("arbiter: put sync set of %s at epoch %d: leader key changed: %w", g.name, epoch, ErrNotLeader)
	}
	return nil
}

// GroupStatus is a consistent snapshot of a group, read at revision Rev.
type GroupStatus struct {
	Group   string
	Leader  *Leader // nil when there is no leader
	Epoch   uint64  // last epoch handed out
	Members []MemberStatus
	Sync    *SyncSet   // nil when never written
	Mode    *GroupMode // the recorded acknowledgement mode; nil when none
	Rev     int64      // etcd revision of the snapshot: Watch(ctx, Rev) continues from it
}

// Status reads the group's leader, epoch, members and sync set at one
// revision.
func (g *Group) Status(ctx context.Context) (*GroupStatus, error) {
	if err := checkName("group", g.name); err != nil {
		return nil, err
	}
	rd, err := g.c.cli.Txn(ctx).Then(
		clientv3.OpGet(leaderKey(g.name)),
		clientv3.OpGet(epochKey(g.name)),
		clientv3.OpGet(syncKey(g.name)),
		clientv3.OpGet(membersPrefix(g.name), clientv3.WithPrefix()),
		clientv3.OpGet(modeKey(g.name)),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("arbiter: read status of %s: %w", g.name, err)
	}
	st := &GroupStatus{Group: g.name, Rev: rd.Header.Revision}
	if kv := firstKV(rd.Responses[0].GetResponseRange().Kvs); kv != nil {
		if st.Leader, err = decodeLeader(kv); err != nil {
			return nil, err
		}
	}
	if st.Epoch, err = decodeEpoch(firstKV(rd.Responses[1].GetResponseRange().Kvs)); err != nil {
		return nil, err
	}
	if kv := firstKV(rd.Responses[2].GetResponseRange().Kvs); kv != nil {
		if st.Sync, err = decodeSync(kv); err != nil {
			return nil, err
		}
	}
	if st.Members, err = decodeMembers(rd.Responses[3].GetResponseRange().Kvs); err != nil {
		return nil, err
	}
	if kv := firstKV(rd.Responses[4].GetResponseRange().Kvs); kv != nil {
		if st.Mode, err = decodeMode(kv); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func firstKV(kvs []*mvccKV) *mvccKV {
	if len(kvs) == 0 {
		return nil
	}
	return kvs[0]
}

func modRev(kv *mvccKV) int64 {
	if kv == nil {
		return 0
	}
	return kv.ModRevision
}
