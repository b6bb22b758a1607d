package localgroup

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// WritesOpenRe matches a node's log line announcing that it accepts
// writes as the active, with the epoch.
var WritesOpenRe = regexp.MustCompile(`msg="writes open".* epoch=(\d+)`)

// Marks returns every node's current log line count: WaitLine and
// AwaitWritesOpen look only at lines after a mark.
func (c *Cluster) Marks() map[string]int {
	m := map[string]int{}
	for _, n := range c.Nodes {
		m[n.ID] = n.Proc().NumLines()
	}
	return m
}

// Kill records a SIGKILL of the active.
type Kill struct {
	Node  *Node
	Epoch uint64    // the killed active's epoch
	At    time.Time // just before the signal was sent
	Dead  time.Time // once the process was reaped
	Marks map[string]int
}

// KillLeader SIGKILLs the node that holds the leader key now.
func (c *Cluster) KillLeader(ctx context.Context) (*Kill, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	n := c.Leader(st)
	if n == nil {
		return nil, fmt.Errorf("localgroup: no active to kill (%s)", Describe(st))
	}
	epoch := st.Epoch
	if m := Member(st, n.ID); m != nil {
		epoch = m.Epoch
	}
	k := &Kill{Node: n, Epoch: epoch, Marks: c.Marks()}
	k.At = time.Now()
	n.Kill()
	k.Dead = time.Now()
	return k, nil
}

// Opened is a node announcing writes open.
type Opened struct {
	Node  *Node
	Epoch uint64
	Line  Line // Line.Logged is the node's own timestamp
}

// AwaitWritesOpen waits until a node other than except logs "writes open"
// at an epoch above minEpoch, looking at lines after marks.
func (c *Cluster) AwaitWritesOpen(ctx context.Context, marks map[string]int, except string, aboveEpoch uint64) (*Opened, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan *Opened, len(c.Nodes))
	live := 0
	for _, n := range c.Nodes {
		if n.ID == except {
			continue
		}
		p := n.Proc()
		if !p.Running() {
			continue
		}
		live++
		go func() {
			from := marks[n.ID]
			for {
				l, m, i, err := p.WaitLine(ctx, WritesOpenRe, from)
				if err != nil {
					got <- nil
					return
				}
				if e, _ := strconv.ParseUint(m[1], 10, 64); e > aboveEpoch {
					got <- &Opened{Node: n, Epoch: e, Line: l}
					return
				}
				from = i + 1
			}
		}()
	}
	for ; live > 0; live-- {
		if o := <-got; o != nil {
			return o, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localgroup: no node opened writes above epoch %d: %w", aboveEpoch, context.Cause(ctx))
	}
	return nil, errors.New("localgroup: no live node left to open writes")
}
