package arbiter

import (
	"context"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventKind says what a GroupEvent reports.
type EventKind int

// Event kinds.
const (
	EventErr           EventKind = iota // the watch ended; Err says why
	EventLeaderSet                      // the leader key was created or rewritten; Leader is its value
	EventLeaderDeleted                  // the leader key was deleted or its lease ended; Leader is the old value if known
	EventMemberSet                      // a member key was written; Member is its value
	EventMemberDeleted                  // a member key was deleted or its lease ended; Member has at least NodeID
	EventSyncSet                        // the sync set was written (Sync is its value) or deleted (Sync nil)
)

func (k EventKind) String() string {
	switch k {
	case EventErr:
		return "Err"
	case EventLeaderSet:
		return "LeaderSet"
	case EventLeaderDeleted:
		return "LeaderDeleted"
	case EventMemberSet:
		return "MemberSet"
	case EventMemberDeleted:
		return "MemberDeleted"
	case EventSyncSet:
		return "SyncSet"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// GroupEvent is one change of a group's leader or member keys.
type GroupEvent struct {
	Kind   EventKind
	Leader *Leader       // EventLeaderSet, EventLeaderDeleted (may be nil)
	Member *MemberStatus // EventMemberSet, EventMemberDeleted
	Sync   *SyncSet      // EventSyncSet (nil: deleted)
	Rev    int64         // revision of the change
	Err    error         // EventErr: wraps ErrWatchInterrupted
}

// Watch streams the changes of the group's leader key, member keys and sync set made
// after revision rev (from Leader, Members or Status; rev <= 0 means from
// now), in revision order. The channel is closed when ctx ends. When the
// watch fails — revision compacted, the etcd member lost its quorum (the
// watch requires a leader), the client closed — one EventErr is sent and
// the channel is closed: re-read the state and watch again.
func (g *Group) Watch(ctx context.Context, rev int64) <-chan GroupEvent {
	out := make(chan GroupEvent, 64)
	if err := checkName("group", g.name); err != nil {
		out <- GroupEvent{Kind: EventErr, Err: fmt.Errorf("%w: %w", ErrWatchInterrupted, err)}
		close(out)
		return out
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := g.c.cli.Watch(wctx, groupPrefix(g.name), opts...)
	go func() {
		defer close(out)
		defer cancel()
		send := func(ev GroupEvent) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		fail := func(err error) {
			send(GroupEvent{Kind: EventErr, Err: fmt.Errorf("arbiter: watch %s from rev %d: %w: %w", g.name, rev, ErrWatchInterrupted, err)})
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			for _, ev := range resp.Events {
				gev, ok, err := g.convert(ev)
				if err != nil {
					fail(err)
					return
				}
				if ok && !send(gev) {
					return
				}
			}
		}
		if ctx.Err() == nil {
			fail(fmt.Errorf("watch channel closed"))
		}
	}()
	return out
}

func (g *Group) convert(ev *clientv3.Event) (GroupEvent, bool, error) {
	key := string(ev.Kv.Key)
	gev := GroupEvent{Rev: ev.Kv.ModRevision}
	switch {
	case key == leaderKey(g.name):
		if ev.Type == mvccpb.PUT {
			l, err := decodeLeader(ev.Kv)
			if err != nil {
				return gev, false, err
			}
			gev.Kind, gev.Leader = EventLeaderSet, l
			return gev, true, nil
		}
		gev.Kind = EventLeaderDeleted
		if ev.PrevKv != nil {
			if l, err := decodeLeader(ev.PrevKv); err == nil {
				gev.Leader = l
			}
		}
		return gev, true, nil
	case strings.HasPrefix(key, membersPrefix(g.name)):
		node := strings.TrimPrefix(key, membersPrefix(g.name))
		if ev.Type == mvccpb.PUT {
			st, err := decodeMember(ev.Kv)
			if err != nil {
				return gev, false, err
			}
			gev.Kind, gev.Member = EventMemberSet, &st
			return gev, true, nil
		}
		gev.Kind, gev.Member = EventMemberDeleted, &MemberStatus{NodeID: node}
		if ev.PrevKv != nil {
			if st, err := decodeMember(ev.PrevKv); err == nil {
				gev.Member = &st
			}
		}
		return gev, true, nil
	case key == syncKey(g.name):
		gev.Kind = EventSyncSet
		if ev.Type == mvccpb.PUT {
			set, err := decodeSync(ev.Kv)
			if err != nil {
				return gev, false, err
			}
			gev.Sync = set
		}
		return gev, true, nil
	}
	return gev, false, nil // epoch: not reported
}
