package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/localgroup"
)

// clientLink is the relay in front of node id's client port: the node
// publishes it (--advertise-addr), so proxies and the direct clients —
// everyone who finds the active through the arbiter — go through it.
func clientLink(id string) string { return "client>" + id }

// proxyLink is the relay the clients of proxy i (1-based) go through.
func proxyLink(i int) string { return fmt.Sprintf("c>proxy%d", i) }

// proxyArbiterLinks are proxy name's relays to the arbiter members.
func proxyArbiterLinks(name string) []string {
	var out []string
	for i := 1; i <= 3; i++ {
		out = append(out, fmt.Sprintf("%s>a%d", name, i))
	}
	return out
}

// injectExtra applies one of ExtraFaults (see inject).
func (r *runner) injectExtra(ctx context.Context, kind string, pick int, leader *localgroup.Node, standbys []*localgroup.Node, exclude string) (string, func() error, error) {
	lg := r.lg
	switch kind {
	case PartitionActiveClients, PartitionProxyActive, ProxyStaleRoute, AmbiguousTxnActive, AmbiguousTxnFailover, ClockJumpActive:
		if leader == nil {
			return "", nil, fmt.Errorf("no active to inject %s into", kind)
		}
	case FsyncErrorStandby, PowerLossStandby, PauseStandby, PartitionStandbyActive:
		if len(standbys) == 0 {
			return "", nil, fmt.Errorf("no standby to inject %s into", kind)
		}
	}
	if kind == AmbiguousTxnActive && len(standbys) == 0 {
		return "", nil, fmt.Errorf("no standby to kill for %s", kind)
	}
	standby := func() *localgroup.Node { return standbys[pick%len(standbys)] }
	proxy := pick%len(lg.Proxies) + 1
	switch kind {
	case PartitionClientProxy:
		l := proxyLink(proxy)
		r.net.Block(l)
		return fmt.Sprintf("proxy%d", proxy), func() error { return r.net.Unblock(l) }, nil

	case PartitionProxyActive, PartitionStandbyActive:
		src := fmt.Sprintf("proxy%d", proxy)
		l := clientLink(leader.ID)
		if kind == PartitionStandbyActive {
			src, l = standby().ID, peerLink(leader.ID)
		}
		rl := r.net.Get(l)
		if rl == nil {
			return "", nil, fmt.Errorf("no link %s", l)
		}
		rl.BlockFrom(src)
		if !slices.Contains(rl.Sources(), src) {
			r.note("%s had no open connection from %s when cut (sources %q)", l, src, rl.Sources())
		}
		return src + "/" + leader.ID, func() error { rl.UnblockFrom(src); return nil }, nil

	case PartitionActiveClients:
		l := clientLink(leader.ID)
		r.net.Block(l)
		return leader.ID, func() error { return r.net.Unblock(l) }, nil

	case ProxyStaleRoute:
		name := fmt.Sprintf("proxy%d", proxy)
		links := proxyArbiterLinks(name)
		r.net.Block(links...)
		leader.Kill()
		return name + "/" + leader.ID, func() error {
			return errors.Join(r.net.Unblock(links...), leader.Restart(ctx))
		}, nil

	case AmbiguousTxnActive:
		if err := armFailpoint(ctx, leader, FPTxnAmbiguous, specTxnAmbiguousActive); err != nil {
			return leader.ID, nil, err
		}
		s := standby()
		s.Kill()
		return leader.ID + "/" + s.ID, func() error {
			r.noteFired(ctx, leader, FPTxnAmbiguous, specTxnAmbiguousActive)
			return errors.Join(s.Restart(ctx), disarm(ctx, leader, FPTxnAmbiguous))
		}, nil

	case AmbiguousTxnFailover:
		var armed []*localgroup.Node
		var errs []error
		for _, s := range standbys {
			if err := armFailpoint(ctx, s, FPTxnAmbiguous, specTxnAmbiguousCampaign); err != nil {
				errs = append(errs, err)
				continue
			}
			armed = append(armed, s)
		}
		leader.Kill()
		return leader.ID, func() error {
			err := leader.Restart(ctx)
			for _, s := range armed {
				r.noteFired(ctx, s, FPTxnAmbiguous, specTxnAmbiguousCampaign)
				err = errors.Join(err, disarm(ctx, s, FPTxnAmbiguous))
			}
			return err
		}, errors.Join(errs...)

	case FsyncErrorStandby:
		s := standby()
		if err := armFailpoint(ctx, s, FPWALFsync, specFsync); err != nil {
			return s.ID, nil, err
		}
		// A failed fsync is not retried (the page cache's state is
		// unknown): the process is replaced, on the same data.
		return s.ID, func() error {
			if p := s.Proc(); p != nil {
				if l, _, _, ok := p.FindLine(walFailed, 0); ok {
					r.note("%s: %s", s.ID, l.Text)
				} else if !p.Running() {
					r.note("%s: exited (%v)", s.ID, p.ExitErr())
				} else {
					r.note("%s: the WAL did not fail during the hold", s.ID)
				}
			}
			return s.Restart(ctx)
		}, nil

	case PowerLossStandby:
		s := standby()
		s.Kill()
		cut, err := CutUnsynced(filepath.Join(s.DataDir, "wal"))
		target := s.ID + " (" + cut.String() + ")"
		if err != nil {
			target = s.ID
		}
		return target, func() error { return s.Restart(ctx) }, err

	case PauseStandby, ClockJumpActive:
		n := leader
		if kind == PauseStandby {
			n = standby()
		}
		var armErr error
		if kind == ClockJumpActive {
			// Armed before the freeze: a stopped process serves nothing.
			armErr = armFailpoint(ctx, n, FPClockJump, specClockJump(r.holdOf(kind)))
		}
		cont, err := r.pause(n)
		if err != nil {
			return n.ID, nil, err
		}
		return n.ID, func() error {
			err := cont()
			if kind == ClockJumpActive {
				r.noteFired(ctx, n, FPClockJump, specClockJump(r.holdOf(kind)))
				err = errors.Join(err, disarm(ctx, n, FPClockJump))
			}
			return err
		}, armErr

	case PauseArbiter:
		var members []int
		for a := range lg.Arbiters {
			if fmt.Sprintf("a%d", a+1) != exclude {
				members = append(members, a)
			}
		}
		a := members[pick%len(members)]
		p := lg.Arbiters[a]
		if err := p.Stop(); err != nil {
			return fmt.Sprintf("a%d", a+1), nil, fmt.Errorf("SIGSTOP a%d: %w", a+1, err)
		}
		return fmt.Sprintf("a%d", a+1), p.Cont, nil
	}
	return "", nil, fmt.Errorf("unknown fault kind %q", kind)
}

// walFailed is the node's log line for a failed WAL.
var walFailed = regexp.MustCompile(`wal: log failed`)

// noteFired notes how often point name (armed with spec) fired in n: an
// N*-limited point that fired N times has disarmed itself and is no longer
// listed.
func (r *runner) noteFired(ctx context.Context, n *localgroup.Node, name, spec string) {
	if !n.Running() {
		r.note("%s: %s=%s: process gone", n.ID, name, spec)
		return
	}
	list, err := listFailpoints(ctx, n)
	if err != nil {
		r.note("%s: %s: %v", n.ID, name, err)
		return
	}
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, name+"=") {
			r.note("%s: %s=%s still armed: %s", n.ID, name, spec, line)
			return
		}
	}
	r.note("%s: %s=%s fired every time it was allowed", n.ID, name, spec)
}

// disarm disarms point name in n, if n still runs (a dead process's
// points died with it).
func disarm(ctx context.Context, n *localgroup.Node, name string) error {
	if !n.Running() {
		return nil
	}
	return armFailpoint(ctx, n, name, "")
}

// holdOf is the hold of the fault being injected (for a failpoint spec
// that needs it); 0 if unknown.
func (r *runner) holdOf(kind string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil && r.cur.Kind == kind {
		return r.cur.Hold
	}
	return 0
}
