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
	err    error
}

// Switchover hands the active role to the standby to ("" = the best
// placed one) with no loss: writes stop here, the target catches up to
// the last LSN, the leader key is rewritten to the target in one arbiter
// transaction (arbiter.Group.Handover), and the target takes over without
// an election. If anything fails before the hand-over, writes reopen here
// and the error is returned. ctx bounds the whole operation.
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
	err := n.handOver(ctx, prep, &res)
	res.PausedMs = float64(time.Since(closedAt).Microseconds()) / 1000
	select {
	case n.switchDone <- switchOutcome{epoch: prep.epoch, handedOver: err == nil}:
	case <-n.loopDone:
	}
	if err != nil {
		return res, err
	}
	n.log.Info("switched over", "to", res.To, "epoch", res.Epoch, "lsn", res.LSN, "paused_ms", res.PausedMs)
	return res, nil
}

// handOver waits until the target has every record durable, then passes
// the leader key.
func (n *Node) handOver(ctx context.Context, prep switchPrep, res *SwitchoverResult) error {
	for {
		last := n.eng.LastLSN()
		if err := n.repl.sender.WaitDurable(ctx, prep.target, last); err != nil {
			return fmt.Errorf("node: switchover to %s: catch up to lsn %d: %w", prep.target, last, err)
		}
		// Writes that passed the gate before it closed may still be
		// landing; the gate lets no new ones in, so this settles.
		if n.eng.LastLSN() == last {
			res.LSN = last
			break
		}
	}
	// Let the writes in flight be acknowledged before the hand-over: they
	// wait for every standby of the sync set (bounded: a slow one is the
	// sync set's business, and those writes are on the target anyway).
	if n.sync != nil {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		for _, id := range n.sync.status().Standbys {
			if n.repl.sender.WaitDurable(wctx, id, res.LSN) != nil {
				break
			}
		}
		cancel()
	}
	epoch, err := prep.group.Handover(ctx, prep.sess, prep.epoch, prep.target)
	if err != nil {
		return fmt.Errorf("node: switchover to %s: %w", prep.target, err)
	}
	res.Epoch = epoch
	return nil
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
	best, bestLSN := "", uint64(0)
	for _, p := range l.n.repl.sender.Peers() {
		if l.n.sync != nil && !slices.Contains(eligible, p.Member()) { // S names node@incarnation
			continue
		}
		if req.to != "" && p.NodeID != req.to {
			continue
		}
		if best == "" || p.DurableLSN > bestLSN || (p.DurableLSN == bestLSN && p.NodeID < best) {
			best, bestLSN = p.NodeID, p.DurableLSN
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
	req.reply <- switchPrep{epoch: ms.ActiveEpoch, sess: l.sess, group: l.group, target: best}
}

// endSwitch runs on the loop goroutine: after a failed switchover writes
// reopen (if the machine still has them open); after a hand-over they
// stay closed for good at that epoch.
func (l *loop) endSwitch(o switchOutcome) {
	l.switching = false
	if o.handedOver {
		l.handedOver = max(l.handedOver, o.epoch)
		return
	}
	ms := l.m.Status()
	if ms.Role == ha.Active && ms.WritesOpen && ms.ActiveEpoch == o.epoch && ms.ActiveEpoch > l.handedOver {
		l.n.gate.open(ms.ActiveEpoch, ms.OpenUntil) // undrain
		l.n.log.Warn("switchover failed: writes reopened", "epoch", ms.ActiveEpoch)
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
