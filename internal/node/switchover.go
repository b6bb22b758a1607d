package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/failpoint"
	"github.com/tandem-db/tandem/internal/ha"
)

// Switchover errors.
var (
	// ErrSwitchoverNotActive: the node asked to switch over is not the
	// active with writes open.
	ErrSwitchoverNotActive = errors.New("node: switchover: this node is not the active")
	// ErrSwitchoverNoTarget: no connected standby qualifies (in sync mode:
	// none in the sync set), or the one named does not.
	ErrSwitchoverNoTarget = errors.New("node: switchover: no eligible standby")
	// ErrSwitchoverBusy: a switchover is already running.
	ErrSwitchoverBusy = errors.New("node: switchover: already in progress")
)

// SwitchoverResult reports a planned role change made by the active.
type SwitchoverResult struct {
	From      string `json:"from"`
	To        string `json:"to"`
	FromEpoch uint64 `json:"from_epoch"`
	Epoch     uint64 `json:"epoch"` // the new active's epoch
	// LSN is the last record written at FromEpoch; the target had it
	// durable before the hand-over.
	LSN uint64 `json:"lsn"`
	// PausedMs is how long this node refused writes before handing over
	// (the catch-up wait plus the arbiter transaction).
	PausedMs float64 `json:"paused_ms"`
}

// switchPrep is what the loop hands a switchover: the lead it holds.
type switchPrep struct {
	epoch  uint64
	sess   *arbiter.Session
	group  *arbiter.Group
	target string
	member string // the target's sync set name (node@incarnation)
	err    error
}

// Switchover hands the active role to the standby to ("" = the best
// placed one) with no loss: writes stop here, the engine's write barrier
// settles the last LSN at this epoch (acknowledgements above it are
// refused from then on), the target catches up to it, the sync set is
// checked again, the leader key is rewritten to the target in one arbiter
// transaction (arbiter.Group.Handover), and the target takes over without
// an election. If anything fails before the hand-over, writes reopen here
// and the error is returned. If the hand-over transaction fails, the
// leader key is confirmed (arbiter.Group.ConfirmLeader) before writes
// reopen: if it committed after all, the switchover succeeded; if the
// arbiter cannot say, writes stay closed until it can (retried in the
// background) or the lease logic settles it. ctx bounds the operation.
//
// Failpoints: "node/switchover-barrier" is evaluated just before the write
// barrier, "node/switchover-settled" once the LSN is settled and the
// target holds it, just before the hand-over.
func (n *Node) Switchover(ctx context.Context, to string) (SwitchoverResult, error) {
	reply := make(chan switchPrep, 1)
	select {
	case n.switchReq <- switchRequest{to: to, reply: reply}:
	case <-ctx.Done():
		return SwitchoverResult{}, fmt.Errorf("node: switchover: %w", ctx.Err())
	case <-n.loopDone:
		return SwitchoverResult{}, ErrSwitchoverNotActive
	}
	prep := <-reply // the loop answers at once
	if prep.err != nil {
		return SwitchoverResult{}, prep.err
	}
	closedAt := time.Now()
	res := SwitchoverResult{From: n.cfg.NodeID, To: prep.target, FromEpoch: prep.epoch}
	out, err := n.handOver(ctx, prep, &res)
	res.PausedMs = float64(time.Since(closedAt).Microseconds()) / 1000
	if out == handoverUnknown {
		// Writes stay closed (the loop keeps the switchover open) until
		// the arbiter says who holds the leader key.
		n.bg.Go(func() { n.endSwitch(prep.epoch, n.resolveHandover(prep)) })
	} else {
		n.endSwitch(prep.epoch, out)
	}
	if err != nil {
		return res, err
	}
	n.log.Info("switched over", "to", res.To, "epoch", res.Epoch, "lsn", res.LSN, "paused_ms", res.PausedMs)
	return res, nil
}

// handoverOutcome is what a switchover did to the lead.
type handoverOutcome int

const (
	handoverNotDone handoverOutcome = iota // this node still leads at its epoch: reopen
	handoverDone                           // this node no longer leads at its epoch: stay closed
	handoverUnknown                        // the arbiter could not say yet: stay closed, ask again
)

// endSwitch tells the loop the outcome (the loop reopens writes only on
// handoverNotDone).
func (n *Node) endSwitch(epoch uint64, out handoverOutcome) {
	select {
	case n.switchDone <- switchOutcome{epoch: epoch, handedOver: out == handoverDone}:
	case <-n.loopDone:
	}
}

// handOver settles the last LSN, waits until the target has it durable,
// then passes the leader key.
func (n *Node) handOver(ctx context.Context, prep switchPrep, res *SwitchoverResult) (handoverOutcome, error) {
	// The gate refuses new writes (startSwitch drained it). A writer that
	// passed Allow before may not be applied yet: the barrier waits for
	// it, and nothing can follow at this epoch.
	// Failpoint "node/switchover-barrier" is evaluated just before.
	if err := failpoint.Inject("node/switchover-barrier"); err != nil {
		return handoverNotDone, fmt.Errorf("node: switchover to %s: %w", prep.target, err)
	}
	lsn := n.eng.WriteBarrier()
	// Nothing above lsn is acknowledged from now on (there should be
	// nothing above it at this epoch anyway).
	n.gate.limitAcks(lsn)
	res.LSN = lsn
	if err := n.repl.sender.WaitDurable(ctx, prep.target, lsn); err != nil {
		return handoverNotDone, fmt.Errorf("node: switchover to %s: catch up to lsn %d: %w", prep.target, lsn, err)
	}
	if n.sync != nil {
		// Let the writes in flight be acknowledged before the hand-over:
		// they wait for every standby of the sync set (bounded: a slow
		// one is the sync set's business, and those writes are on the
		// target anyway).
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		for _, id := range n.sync.status().Standbys {
			if n.repl.sender.WaitDurable(wctx, id, lsn) != nil {
				break
			}
		}
		cancel()
		// The target was picked from the sync set; it must still be in it
		// as written at this epoch (it may have been dropped meanwhile).
		st := n.sync.status()
		if st.Epoch != prep.epoch || !st.Written || !slices.Contains(st.Standbys, prep.member) {
			return handoverNotDone, fmt.Errorf("%w: %s is no longer in the sync set %v (epoch %d)", ErrSwitchoverNoTarget, prep.target, st.Standbys, st.Epoch)
		}
	}
	if err := failpoint.Inject("node/switchover-settled"); err != nil {
		return handoverNotDone, fmt.Errorf("node: switchover to %s: %w", prep.target, err)
	}
	epoch, err := prep.group.Handover(ctx, prep.sess, prep.epoch, prep.target)
	if err == nil {
		res.Epoch = epoch
		return handoverDone, nil
	}
	herr := fmt.Errorf("node: switchover to %s: %w", prep.target, err)
	// The transaction may have committed although the call failed (a lost
	// reply, a timeout after the arbiter applied it): ask before reopening.
	cctx, cancel := context.WithTimeout(n.ctx, n.cfg.HA.LeaseTTL)
	out, ld, cerr := n.confirmLead(cctx, prep)
	cancel()
	switch {
	case cerr != nil:
		n.log.Warn("switchover: hand-over outcome unknown; writes stay closed until the arbiter answers", "to", prep.target, "err", err, "confirm_err", cerr)
		return handoverUnknown, fmt.Errorf("%w; whether the hand-over happened is unknown (%v): writes stay closed until the arbiter answers", herr, cerr)
	case out == handoverNotDone:
		return handoverNotDone, herr
	case ld != nil && ld.NodeID == prep.target && ld.Epoch > prep.epoch:
		n.log.Warn("switchover: the hand-over committed although the arbiter call failed", "to", prep.target, "epoch", ld.Epoch, "err", err)
		res.Epoch = ld.Epoch
		return handoverDone, nil
	default:
		return handoverDone, fmt.Errorf("%w; this node no longer holds the leader key at epoch %d (leader now %s): writes stay closed", herr, prep.epoch, describeLeader(ld))
	}
}

// confirmLead asks the arbiter whether this node still holds the leader
// key at prep.epoch (and makes sure nothing prepared earlier can take it
// away if so), retrying until ctx ends.
func (n *Node) confirmLead(ctx context.Context, prep switchPrep) (handoverOutcome, *arbiter.Leader, error) {
	backoff := 50 * time.Millisecond
	for {
		mine, ld, err := prep.group.ConfirmLeader(ctx, prep.sess, prep.epoch)
		if err == nil {
			if mine {
				return handoverNotDone, ld, nil
			}
			return handoverDone, ld, nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return handoverUnknown, nil, err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// resolveHandover asks the arbiter until it answers (or the node stops:
// then writes stay closed).
func (n *Node) resolveHandover(prep switchPrep) handoverOutcome {
	for n.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HA.LeaseTTL)
		out, ld, err := n.confirmLead(ctx, prep)
		cancel()
		if err == nil {
			n.log.Info("switchover: hand-over outcome settled", "handed_over", out == handoverDone, "leader", describeLeader(ld))
			return out
		}
	}
	return handoverDone
}

// observeLeaderPoint evaluates failpoint "node/observe-leader/<node id>"
// in the node's arbiter observer, before it reports a new leader key
// value to the loop: armed with pause, that node stays unaware of a new
// leader (as if the watch were slow) while the others see it.
func observeLeaderPoint(nodeID string) {
	if failpoint.Enabled {
		_ = failpoint.Inject("node/observe-leader/" + nodeID)
	}
}

func describeLeader(ld *arbiter.Leader) string {
	if ld == nil {
		return "none"
	}
	return fmt.Sprintf("%s at epoch %d", ld.NodeID, ld.Epoch)
}

type switchRequest struct {
	to    string
	reply chan<- switchPrep
}

type switchOutcome struct {
	epoch      uint64
	handedOver bool
}

// startSwitch runs on the loop goroutine: it checks this node leads with
// writes open, picks the target, and closes the write gate.
func (l *loop) startSwitch(req switchRequest) {
	ms := l.m.Status()
	fail := func(err error) { req.reply <- switchPrep{err: err} }
	switch {
	case l.switching:
		fail(ErrSwitchoverBusy)
		return
	case ms.Role != ha.Active || !ms.WritesOpen || l.sess == nil || l.group == nil || l.n.repl == nil:
		fail(fmt.Errorf("%w (role %s, writes open %v)", ErrSwitchoverNotActive, ms.Role, ms.WritesOpen))
		return
	}
	var eligible []string
	if l.n.sync != nil {
		eligible = l.n.sync.status().Standbys
	}
	best, bestMember, bestLSN := "", "", uint64(0)
	for _, p := range l.n.repl.sender.Peers() {
		if l.n.sync != nil && !slices.Contains(eligible, p.Member()) { // S names node@incarnation
			continue
		}
		if req.to != "" && p.NodeID != req.to {
			continue
		}
		if best == "" || p.DurableLSN > bestLSN || (p.DurableLSN == bestLSN && p.NodeID < best) {
			best, bestMember, bestLSN = p.NodeID, p.Member(), p.DurableLSN
		}
	}
	if best == "" {
		what := "a connected standby"
		if l.n.sync != nil {
			what = "a connected standby in the sync set " + fmt.Sprint(eligible)
		}
		if req.to != "" {
			fail(fmt.Errorf("%w: %s is not %s", ErrSwitchoverNoTarget, req.to, what))
		} else {
			fail(fmt.Errorf("%w: there is no %s", ErrSwitchoverNoTarget, what))
		}
		return
	}
	l.switching = true
	l.n.gate.drain() // no new writes; those in flight may still be acknowledged
	l.n.log.Info("switchover: writes closed", "to", best, "epoch", ms.ActiveEpoch)
	req.reply <- switchPrep{epoch: ms.ActiveEpoch, sess: l.sess, group: l.group, target: best, member: bestMember}
}

// endSwitch runs on the loop goroutine: after a switchover that did not
// hand over (this node confirmed to hold the leader key) writes reopen
// if the machine still has them open; after a hand-over (or when this
// node no longer holds the key) they stay closed for good at that epoch.
// While the outcome is unknown, switching stays set and writes closed; if
// the machine took the lead at a later epoch meanwhile (its OpenWrites was
// held back by the switchover), writes open at that epoch now.
func (l *loop) endSwitch(o switchOutcome) {
	l.switching = false
	if o.handedOver {
		l.handedOver = max(l.handedOver, o.epoch)
	}
	ms := l.m.Status()
	if ms.Role == ha.Active && ms.WritesOpen && ms.ActiveEpoch > l.handedOver {
		if l.n.sync != nil {
			l.n.sync.activate(ms.ActiveEpoch) // keeps S at the same epoch
		}
		l.n.gate.open(ms.ActiveEpoch, ms.OpenUntil) // undrain
		haWritesOpen.WithLabelValues(l.cfg.NodeID).Set(1)
		l.n.log.Warn("switchover did not hand over: writes reopened", "epoch", ms.ActiveEpoch, "switch_epoch", o.epoch)
	}
}

// serveSwitchover is POST /v1/switchover?to=NODE&timeout=DURATION. With a
// cluster secret configured, the request must carry it in
// security.SecretHeader.
func (n *Node) serveSwitchover(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if !n.cfg.Peer.CheckHTTP(r.Header) {
		// With a cluster secret, only members and operators holding it may
		// change roles.
		http.Error(w, "switchover: missing or wrong cluster secret", http.StatusUnauthorized)
		return
	}
	timeout := 10 * time.Second
	if s := r.URL.Query().Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			http.Error(w, fmt.Sprintf("timeout = %q: want a positive duration such as 5s", s), http.StatusBadRequest)
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := n.Switchover(ctx, r.URL.Query().Get("to"))
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusServiceUnavailable
		switch {
		case errors.Is(err, ErrSwitchoverNotActive), errors.Is(err, ErrSwitchoverBusy):
			code = http.StatusConflict
		case errors.Is(err, ErrSwitchoverNoTarget):
			code = http.StatusPreconditionFailed
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "result": res})
		return
	}
	json.NewEncoder(w).Encode(res)
}
