// Package deployctl orchestrates leading/alternative deployments (package
// cdc, docs/architecture.md §4): the planned switchover, the unplanned failover and the
// rejoin of a former leading deployment. `tandem deployment` is a thin
// command line over it.
//
// # Fence before promote
//
// No deployment is made leading while the other one may still acknowledge
// client writes, unless the operator says so (Options.NoFence):
//
//   - Switchover: the leading record becomes demoting (generation G+1);
//     its active refuses new writes, fails the acknowledgement of every
//     write admitted under G (the write-path generation check,
//     internal/node/deployment.go), takes a write barrier and publishes
//     its final position. Only then does the alternative catch up and
//     become leading.
//   - Failover: the same fence first (the old leading record becomes
//     demoting), then the alternative is promoted at once. The fence is
//     confirmed when the old side's active publishes a state at the new
//     generation with a role other than leading, or, when no active
//     answers (its nodes are down or cut off from their arbiter), once
//     the old record's fence bound (DeploymentRecord.FenceBound, default
//     cdc.DefaultFenceBound) has passed since the fence was written: a
//     node stops acknowledging writes when it could not confirm its
//     leading record for that long, so no old-side node can still be
//     acknowledging writes by then. When the old deployment's arbiter
//     cannot be reached (or refuses the write), there is no fence: the
//     failover is refused unless Options.NoFence is set, and then the
//     report says that the old side may keep acknowledging writes that
//     will be lost (split brain) until its record is changed
//     (`tandem deployment rejoin`).
//
// Every wait watches the arbiter keys (no fixed polling), so the pause of
// a switchover is the nodes' reaction time plus the catch-up.
package deployctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
)

// Sentinel errors.
var (
	// ErrNotFenced: a failover could not fence the old leading deployment
	// (its arbiter did not answer or refused the demotion) and
	// Options.NoFence was not set. Nothing was changed.
	ErrNotFenced = errors.New("deployctl: the old leading deployment could not be fenced")
	// ErrBadRoles: the records do not describe the expected pair.
	ErrBadRoles = errors.New("deployctl: unexpected deployment roles")
)

// Dialer opens an arbiter client for endpoints.
type Dialer func(ctx context.Context, endpoints []string) (*arbiter.Client, error)

// Options configure the orchestration.
type Options struct {
	// Dial opens arbiter clients (required).
	Dial Dialer
	// NoFence (failover only): promote the alternative even when the old
	// leading deployment cannot be fenced. Its nodes may then keep
	// acknowledging writes that the new leading deployment never gets.
	NoFence bool
	// FenceTimeout bounds reaching the old leading deployment's arbiter
	// and writing the fence (failover; default 5s).
	FenceTimeout time.Duration
}

func (o Options) fenceTimeout() time.Duration {
	if o.FenceTimeout > 0 {
		return o.FenceTimeout
	}
	return 5 * time.Second
}

// FindRecord returns the record named name, or the only one with role
// (when name is "").
func FindRecord(ctx context.Context, cli *arbiter.Client, name, role string) (*cdc.DeploymentRecord, int64, error) {
	if name == "" {
		recs, err := cdc.ListRecords(ctx, cli)
		if err != nil {
			return nil, 0, fmt.Errorf("deployctl: %w", err)
		}
		for _, r := range recs {
			if role == "" || r.Role == role {
				if name != "" {
					return nil, 0, fmt.Errorf("deployctl: several %s deployments in this arbiter; name one", role)
				}
				name = r.Name
			}
		}
		if name == "" {
			return nil, 0, fmt.Errorf("deployctl: no %s deployment record in this arbiter", role)
		}
	}
	rec, rev, err := cdc.GetRecord(ctx, cli, name)
	if err == nil && rec == nil {
		err = fmt.Errorf("deployctl: no deployment record %q", name)
	}
	return rec, rev, err
}

// AwaitState waits until name's published state satisfies cond, watching
// the state key (each change is seen at once).
func AwaitState(ctx context.Context, cli *arbiter.Client, name, what string, cond func(*cdc.DeploymentState) bool) (*cdc.DeploymentState, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	key := cdc.DeploymentKey(name) + "/state"
	var last *cdc.DeploymentState
	for {
		r, err := cli.Etcd().Get(wctx, key)
		if err == nil {
			if len(r.Kvs) > 0 {
				var st cdc.DeploymentState
				if json.Unmarshal(r.Kvs[0].Value, &st) == nil {
					last = &st
					if cond(&st) {
						return &st, nil
					}
				}
			}
			wch := cli.Etcd().Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(r.Header.Revision+1))
			for wr := range wch {
				if wr.Err() != nil {
					break
				}
				for _, ev := range wr.Events {
					var st cdc.DeploymentState
					if ev.Type == clientv3.EventTypePut && json.Unmarshal(ev.Kv.Value, &st) == nil {
						last = &st
						if cond(&st) {
							return &st, nil
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(last)
			return nil, fmt.Errorf("deployctl: deployment %s: waiting for %s: %w (last state %s)", name, what, ctx.Err(), b)
		case <-time.After(50 * time.Millisecond): // the watch ended: read again
		}
	}
}

// putAmbiguous writes rec at rev; when the write returns an error it reads
// the record back to tell whether it was applied (an etcd transaction can
// commit while its caller gets an error). It returns the record's
// revision after the write.
func putAmbiguous(ctx context.Context, cli *arbiter.Client, rec *cdc.DeploymentRecord, rev int64) (int64, error) {
	err := cdc.PutRecord(ctx, cli, rec, rev)
	if err == nil {
		_, nrev, gerr := cdc.GetRecord(ctx, cli, rec.Name)
		if gerr != nil {
			return 0, nil
		}
		return nrev, nil
	}
	if errors.Is(err, cdc.ErrConflict) {
		return 0, err
	}
	cur, nrev, gerr := cdc.GetRecord(ctx, cli, rec.Name)
	if gerr == nil && cur != nil && cur.Generation == rec.Generation && cur.Role == rec.Role {
		return nrev, nil // it committed
	}
	return 0, err
}

// SwitchoverReport is what `tandem deployment switchover` prints.
type SwitchoverReport struct {
	OldLeading string `json:"old_leading"`
	NewLeading string `json:"new_leading"`
	// Final is the old leading deployment's last position (every write it
	// acknowledged is at or before it); Resume the new leading
	// deployment's position the old one resumes after.
	Final  cdc.Position `json:"final"`
	Resume cdc.Position `json:"resume"`
	// PauseMs: from the demotion to the new leading deployment's active
	// taking writes.
	PauseMs float64 `json:"pause_ms"`
}

// Switchover swaps the roles without loss: the leading deployment is
// fenced (demoting) and publishes its final position, the alternative
// catches up to it and becomes leading, then the old leading one becomes
// its alternative. If the alternative does not take over, the old
// leading deployment is reopened for writes — only when the promotion is
// known not to have happened.
func Switchover(ctx context.Context, o Options, leadEps, altEps []string, leadName, altName string) (*SwitchoverReport, error) {
	lc, err := o.Dial(ctx, leadEps)
	if err != nil {
		return nil, err
	}
	defer lc.Close()
	ac, err := o.Dial(ctx, altEps)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	lrec, lrev, err := FindRecord(ctx, lc, leadName, cdc.RoleLeading)
	if err != nil {
		return nil, err
	}
	arec, arev, err := FindRecord(ctx, ac, altName, cdc.RoleAlternative)
	if err != nil {
		return nil, err
	}
	switch {
	case lrec.Role != cdc.RoleLeading:
		return nil, fmt.Errorf("%w: deployment %s is %s, not leading", ErrBadRoles, lrec.Name, lrec.Role)
	case arec.Role != cdc.RoleAlternative:
		return nil, fmt.Errorf("%w: deployment %s is %s, not alternative", ErrBadRoles, arec.Name, arec.Role)
	case arec.Peer == nil || arec.Peer.Name != lrec.Name:
		return nil, fmt.Errorf("%w: deployment %s is not the alternative of %s", ErrBadRoles, arec.Name, lrec.Name)
	}
	start := time.Now()
	// 1. Fence: the leading deployment stops client writes and publishes
	// its final position.
	demote := *lrec
	demote.Role, demote.Generation = cdc.RoleDemoting, lrec.Generation+1
	if _, err := putAmbiguous(ctx, lc, &demote, lrev); err != nil {
		return nil, fmt.Errorf("deployctl: demote %s: %w", lrec.Name, err)
	}
	reopen := func(cause error) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, rev, _ := cdc.GetRecord(rctx, lc, lrec.Name)
		back := *lrec
		back.Generation = demote.Generation + 1
		if err := cdc.PutRecord(rctx, lc, &back, rev); err != nil {
			return fmt.Errorf("%w; reopening %s for writes failed too: %v", cause, lrec.Name, err)
		}
		return fmt.Errorf("%w (deployment %s is leading again)", cause, lrec.Name)
	}
	lst, err := AwaitState(ctx, lc, lrec.Name, "the final position", func(s *cdc.DeploymentState) bool {
		return s.Generation == demote.Generation && s.Final != nil
	})
	if err != nil {
		return nil, reopen(err)
	}
	final := *lst.Final
	// 2. The alternative catches up to it.
	if _, err := AwaitState(ctx, ac, arec.Name, fmt.Sprintf("upstream position %v", final), func(s *cdc.DeploymentState) bool {
		return s.Upstream.Source == lrec.Name && s.Upstream.LSN >= final.LSN
	}); err != nil {
		return nil, reopen(err)
	}
	// 3. The alternative becomes the leading deployment.
	promote := *arec
	promote.Role, promote.Generation = cdc.RoleLeading, arec.Generation+1
	promote.Peer = &cdc.PeerDeployment{Name: lrec.Name, Arbiter: leadEps, Group: lrec.Group}
	promote.Resume, promote.Rejoin, promote.Failover = nil, nil, nil
	if err := cdc.PutRecord(ctx, ac, &promote, arev); err != nil {
		cur, _, gerr := cdc.GetRecord(context.WithoutCancel(ctx), ac, arec.Name)
		switch {
		case gerr == nil && cur != nil && cur.Generation == promote.Generation && cur.Role == cdc.RoleLeading:
			// The promotion committed although the call failed.
		case gerr == nil && cur != nil && cur.Generation == arec.Generation:
			return nil, reopen(fmt.Errorf("deployctl: promote %s: %w", arec.Name, err))
		default:
			return nil, fmt.Errorf("deployctl: promote %s: %w; whether it was promoted is unknown (%v): %s stays demoting; check `tandem deployment status`",
				arec.Name, err, gerr, lrec.Name)
		}
	}
	ast, err := AwaitState(ctx, ac, arec.Name, "the leading role", func(s *cdc.DeploymentState) bool {
		return s.Generation == promote.Generation && s.Role == cdc.RoleLeading && s.Final != nil
	})
	if err != nil {
		return nil, err
	}
	pause := time.Since(start)
	if ast.Upstream.LSN != final.LSN {
		return nil, fmt.Errorf("deployctl: deployment %s took over at upstream position %+v, not the final %v", arec.Name, ast.Upstream, final)
	}
	// 4. The old leading deployment subscribes back.
	_, lrev, err = cdc.GetRecord(ctx, lc, lrec.Name)
	if err != nil {
		return nil, err
	}
	alt := demote
	alt.Role, alt.Generation = cdc.RoleAlternative, demote.Generation+1
	alt.Peer = &cdc.PeerDeployment{Name: arec.Name, Arbiter: altEps, Group: arec.Group}
	alt.Resume = &engine.UpstreamPos{Source: arec.Name, Epoch: ast.Final.Epoch, LSN: ast.Final.LSN}
	alt.Rejoin, alt.Failover = nil, nil
	if err := cdc.PutRecord(ctx, lc, &alt, lrev); err != nil {
		return nil, err
	}
	return &SwitchoverReport{OldLeading: lrec.Name, NewLeading: arec.Name, Final: final, Resume: *ast.Final,
		PauseMs: float64(pause.Microseconds()) / 1000}, nil
}

// How a failover fenced the old leading deployment (FailoverReport.Fence).
const (
	// FenceConfirmed: the old side's active published a state at the
	// fence generation, not leading.
	FenceConfirmed = "confirmed"
	// FenceBoundPassed: no active confirmed; the fence bound passed since
	// the fence was written.
	FenceBoundPassed = "bound-passed"
	// FenceNone: not fenced (Options.NoFence).
	FenceNone = "none"
)

// FailoverReport is what `tandem deployment failover` prints.
type FailoverReport struct {
	OldLeading string `json:"old_leading"`
	NewLeading string `json:"new_leading"`
	// Fence says how the old leading deployment was fenced before the
	// promotion (FenceConfirmed, FenceBoundPassed, FenceNone).
	Fence string `json:"fence"`
	// LastReplicated is the old leading deployment's last position the
	// new one applied: everything the old one committed after it is lost
	// (the loss window).
	LastReplicated engine.UpstreamPos `json:"last_replicated"`
	// OldLeadingTold: the old leading deployment's record now says
	// alternative + rejoin (its arbiter answered); otherwise run
	// `tandem deployment rejoin` once it is back.
	OldLeadingTold bool   `json:"old_leading_told"`
	Note           string `json:"note,omitempty"`
	// Risk is set when the promotion was not fenced (NoFence).
	Risk string `json:"risk,omitempty"`
}

// Failover fences the old leading deployment, promotes the alternative at
// once and tells the old one to rejoin as the alternative. Without a
// fence (the old arbiter unreachable) it refuses with ErrNotFenced unless
// o.NoFence.
func Failover(ctx context.Context, o Options, leadEps, altEps []string, altName string) (*FailoverReport, error) {
	ac, err := o.Dial(ctx, altEps)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	arec, arev, err := FindRecord(ctx, ac, altName, cdc.RoleAlternative)
	if err != nil {
		return nil, err
	}
	if arec.Role != cdc.RoleAlternative || arec.Peer == nil {
		return nil, fmt.Errorf("%w: deployment %s is %s, not an alternative", ErrBadRoles, arec.Name, arec.Role)
	}
	old := *arec.Peer
	if len(leadEps) == 0 {
		leadEps = old.Arbiter
	}
	rep := &FailoverReport{OldLeading: old.Name, NewLeading: arec.Name}
	// 1. Fence the old leading deployment.
	how, ferr := fence(ctx, o, leadEps, old.Name)
	if ferr != nil {
		if !o.NoFence {
			return nil, fmt.Errorf("%w: %v; nothing was changed. Stop the old leading deployment's nodes (or restore its arbiter) and retry, or pass --no-fence to promote anyway (its nodes may keep acknowledging writes that %s never gets: a split brain until its record is changed)",
				ErrNotFenced, ferr, arec.Name)
		}
		how = FenceNone
		rep.Risk = fmt.Sprintf("promoted WITHOUT fencing %s (%v): until its record is changed (`tandem deployment rejoin`) its nodes may keep acknowledging writes; every write it acknowledges after the loss window below is lost (exported to diverged/ on rejoin)",
			old.Name, ferr)
	}
	rep.Fence = how
	// 2. Promote the alternative.
	promote := *arec
	promote.Role, promote.Generation = cdc.RoleLeading, arec.Generation+1
	promote.Resume, promote.Rejoin = nil, nil
	if _, err := putAmbiguous(ctx, ac, &promote, arev); err != nil {
		return nil, fmt.Errorf("deployctl: promote %s: %w (%s is fenced: %s; rerun the failover)", arec.Name, err, old.Name, how)
	}
	ast, err := AwaitState(ctx, ac, arec.Name, "the leading role", func(s *cdc.DeploymentState) bool {
		return s.Generation == promote.Generation && s.Role == cdc.RoleLeading && s.Final != nil
	})
	if err != nil {
		return nil, err
	}
	rep.LastReplicated = ast.Upstream
	// Record the loss window on the new leading record (for a later rejoin).
	if _, rev, err := cdc.GetRecord(ctx, ac, arec.Name); err == nil {
		up := ast.Upstream
		promote.Failover = &up
		_ = cdc.PutRecord(ctx, ac, &promote, rev)
	}
	// 3. The old leading deployment rejoins as the alternative.
	if err := TellRejoin(ctx, o, leadEps, old.Name, arec.Name, altEps, arec.Group, ast.Upstream.LSN, promote.Generation); err != nil {
		rep.Note = fmt.Sprintf("the old leading deployment's arbiter did not take the rejoin instruction (%v): before restarting its nodes run `tandem deployment rejoin --arbiter %v --new-leading-arbiter %v`",
			err, leadEps, altEps)
		if how == FenceNone {
			rep.Note += "; until then its nodes still act as leading"
		}
	} else {
		rep.OldLeadingTold = true
	}
	return rep, nil
}

// fence makes deployment name (in the arbiter at eps) stop acknowledging
// client writes: its record leaves the leading role (demoting, next
// generation), then fence waits for its active's confirmation or for the
// record's fence bound. It returns FenceConfirmed or FenceBoundPassed.
func fence(ctx context.Context, o Options, eps []string, name string) (string, error) {
	fctx, cancel := context.WithTimeout(ctx, o.fenceTimeout())
	lc, err := o.Dial(fctx, eps)
	if err != nil {
		cancel()
		return "", fmt.Errorf("reach the arbiter of %s at %v: %w", name, eps, err)
	}
	defer lc.Close()
	rec, rev, err := cdc.GetRecord(fctx, lc, name)
	if err == nil && rec == nil {
		err = fmt.Errorf("no deployment record %q", name)
	}
	if err != nil {
		cancel()
		return "", fmt.Errorf("read the record of %s: %w", name, err)
	}
	if rec.Role == cdc.RoleLeading {
		d := *rec
		d.Role, d.Generation = cdc.RoleDemoting, rec.Generation+1
		if _, err := putAmbiguous(fctx, lc, &d, rev); err != nil {
			cancel()
			return "", fmt.Errorf("demote %s: %w", name, err)
		}
		rec = &d
	}
	cancel()
	written := time.Now()
	gen := rec.Generation
	bound := rec.FenceBound()
	// A node's validity window starts when it sent the read that last
	// confirmed the leading record, which was before the write above
	// committed: waiting the bound (plus a margin for clock rates) from
	// the write's return covers every node.
	wctx, wcancel := context.WithTimeout(ctx, bound+bound/10+100*time.Millisecond)
	defer wcancel()
	_, err = AwaitState(wctx, lc, name, "the fence", func(s *cdc.DeploymentState) bool {
		return s.Generation >= gen && s.Role != cdc.RoleLeading
	})
	if err == nil {
		return FenceConfirmed, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if left := time.Until(written.Add(bound + bound/10 + 100*time.Millisecond)); left > 0 {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(left):
		}
	}
	return FenceBoundPassed, nil
}

// TellRejoin writes the old leading record: alternative of newName,
// rejoin after lsn.
func TellRejoin(ctx context.Context, o Options, oldEps []string, oldName, newName string, newEps []string, newGroup string, after uint64, gen int64) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	lc, err := o.Dial(cctx, oldEps)
	if err != nil {
		return err
	}
	defer lc.Close()
	lrec, lrev, err := cdc.GetRecord(cctx, lc, oldName)
	if err != nil {
		return err
	}
	if lrec == nil {
		return fmt.Errorf("deployctl: no record %s", oldName)
	}
	nr := *lrec
	nr.Role, nr.Generation = cdc.RoleAlternative, lrec.Generation+1
	nr.Peer = &cdc.PeerDeployment{Name: newName, Arbiter: newEps, Group: newGroup}
	nr.Rejoin, nr.Resume = &cdc.Rejoin{After: after, Generation: gen}, nil
	_, err = putAmbiguous(cctx, lc, &nr, lrev)
	return err
}

// Rejoin (after a failover whose old leading deployment was unreachable)
// makes it the alternative of the leading deployment promoted by the
// failover, found in the arbiter at newEps.
func Rejoin(ctx context.Context, o Options, oldEps, newEps []string) error {
	nc, err := o.Dial(ctx, newEps)
	if err != nil {
		return err
	}
	defer nc.Close()
	recs, err := cdc.ListRecords(ctx, nc)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Role == cdc.RoleLeading && r.Failover != nil && r.Peer != nil {
			return TellRejoin(ctx, o, oldEps, r.Peer.Name, r.Name, newEps, r.Group, r.Failover.LSN, r.Generation)
		}
	}
	return errors.New("deployctl: no leading deployment promoted by a failover in that arbiter")
}
