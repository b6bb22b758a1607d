package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// EvenIfSyncMembersAliveFlag is the tandem promote flag that overrides
// the refusal to force a sync set while a member of the current one is
// alive (PromoteOptions.EvenIfSyncMembersAlive).
const EvenIfSyncMembersAliveFlag = "--even-if-sync-members-alive"

// Promote errors.
var (
	// ErrPromoteHasActive: the group has a leader; use a switchover.
	ErrPromoteHasActive = errors.New("node: promote: the group has an active")
	// ErrPromoteNotMember: the node to promote has no live member key.
	ErrPromoteNotMember = errors.New("node: promote: not a live member")
)

// PromoteOptions are the operator's confirmations for ForcePromote.
type PromoteOptions struct {
	// EvenIfSyncMembersAlive forces the sync set although a member of the
	// current one has a live member key (see arbiter.ForceSyncSetOptions):
	// during a normal election gap such a member is about to win with
	// every acknowledged write, and forcing loses them for nothing.
	EvenIfSyncMembersAlive bool
}

// PromoteReport is what ForcePromote found and did.
type PromoteReport struct {
	Target     string
	Epoch      uint64 // the target's log epoch
	DurableLSN uint64 // the target's durable LSN: writes acknowledged after it may be lost
	OldSync    *arbiter.SyncSet
	// Ahead is a live member further ahead than the target ("" if none).
	Ahead    string
	AheadLSN uint64
}

// ForcePromote is the operator override behind `tandem promote --force`
// for a group that cannot elect an active because no member of its sync
// set is alive: it writes the sync set {target} so target can win the
// next election (AwaitPromoted waits for that). It refuses when the group
// has a leader (ErrPromoteHasActive), when target is not a live member
// (ErrPromoteNotMember), and — unless opts.EvenIfSyncMembersAlive — when
// a member of the current sync set has a live member key
// (arbiter.ErrSyncMembersAlive; the error names the members and the
// override). The liveness check and the write are one arbiter
// transaction. Warnings about the loss window go to warn.
func ForcePromote(ctx context.Context, g *arbiter.Group, target string, opts PromoteOptions, warn io.Writer) (PromoteReport, error) {
	rep := PromoteReport{Target: target}
	st, err := g.Status(ctx)
	if err != nil {
		return rep, fmt.Errorf("node: promote: %w", err)
	}
	if st.Leader != nil {
		return rep, fmt.Errorf("%w: %s of group %s is the active at epoch %d; use tandem switchover", ErrPromoteHasActive, st.Leader.NodeID, g.Name(), st.Leader.Epoch)
	}
	var me *arbiter.MemberStatus
	var best arbiter.MemberStatus
	for i, m := range st.Members {
		if m.NodeID == target {
			me = &st.Members[i]
		}
		if m.DurableLSN > best.DurableLSN || (m.DurableLSN == best.DurableLSN && m.Epoch > best.Epoch) {
			best = m
		}
	}
	if me == nil {
		return rep, fmt.Errorf("%w: %s in group %s", ErrPromoteNotMember, target, g.Name())
	}
	rep.Epoch, rep.DurableLSN, rep.OldSync = me.Epoch, me.DurableLSN, st.Sync
	if best.NodeID != target && best.DurableLSN > me.DurableLSN {
		rep.Ahead, rep.AheadLSN = best.NodeID, best.DurableLSN
	}
	err = g.ForceSyncSet(ctx, []string{target}, arbiter.ForceSyncSetOptions{EvenIfSyncMembersAlive: opts.EvenIfSyncMembersAlive})
	var alive *arbiter.SyncMembersAliveError
	if errors.As(err, &alive) {
		return rep, fmt.Errorf("node: promote: refused: sync-set member(s) %s of group %s are alive and hold every acknowledged write; one of them is probably about to win the election (wait for it, see tandem status). Forcing %s now would throw their writes away; to do it anyway, add %s: %w",
			strings.Join(alive.Members, ", "), g.Name(), target, EvenIfSyncMembersAliveFlag, err)
	}
	if err != nil {
		return rep, fmt.Errorf("node: promote: %w", err)
	}
	fmt.Fprintf(warn, "WARNING: promoting %s of group %s outside the sync set.\n", target, g.Name())
	fmt.Fprintf(warn, "  %s holds epoch %d up to LSN %d.\n", target, me.Epoch, me.DurableLSN)
	if st.Sync != nil {
		fmt.Fprintf(warn, "  The sync set was %v (epoch %d): writes its members acknowledged after LSN %d are LOST; the arbiter does not know how many there were.\n",
			st.Sync.Nodes, st.Sync.Epoch, me.DurableLSN)
	}
	if rep.Ahead != "" {
		fmt.Fprintf(warn, "  Live member %s is further ahead (LSN %d): promoting it instead would have lost less.\n", rep.Ahead, rep.AheadLSN)
	}
	return rep, nil
}

// AwaitPromoted waits until target holds the leader key and reports role
// active, and returns its epoch; it fails at once if another node became
// the active. It polls the arbiter every poll (default 50 ms).
func AwaitPromoted(ctx context.Context, g *arbiter.Group, target string, poll time.Duration) (uint64, error) {
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	for {
		st, err := g.Status(ctx)
		if err == nil && st.Leader != nil {
			if st.Leader.NodeID != target {
				return 0, fmt.Errorf("node: promote: %s became the active instead (epoch %d)", st.Leader.NodeID, st.Leader.Epoch)
			}
			for _, m := range st.Members {
				if m.NodeID == target && m.Role == "active" {
					return st.Leader.Epoch, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("node: promote: %s is in the sync set now but has not become the active: %w", target, ctx.Err())
		case <-time.After(poll): // polling the arbiter
		}
	}
}
