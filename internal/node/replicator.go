package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/replication"
)

// Replication settings (Config.Replication).
const (
	ReplicationOn  = "on"
	ReplicationOff = "off"
)

// Acknowledgement modes (Config.SyncMode).
const (
	SyncAsync = "async"
	SyncSync  = "sync"
)

// streamReplicator is the default Replicator: a replication.Sender on the
// peer port (serving standbys while this node is the active) and a
// replication.Receiver following the active while this node is a
// standby. Replication is asynchronous: Eligible is always true.
type streamReplicator struct {
	nodeID string
	eng    *engine.Engine
	sender *replication.Sender
	recv   *replication.Receiver
	lag    lagClock // when this node's LSNs appeared, for lag in seconds

	mu     sync.Mutex
	leader string // peer address followed, "" when not following
	epoch  uint64 // its epoch
}

// newStreamReplicator builds the default replicator of n. The sender's
// epoch is the write gate's: 0 (every standby refused as being ahead)
// unless this node is the active with writes open (or draining them for
// a switchover).
func newStreamReplicator(n *Node) *streamReplicator {
	log := n.log.With("component", "replication")
	return &streamReplicator{
		nodeID: n.cfg.NodeID, eng: n.eng, lag: lagClock{src: n.eng},
		sender: replication.NewSender(n.eng, replication.SenderOptions{
			Group:  n.cfg.Group,
			Epoch:  n.gate.leadEpoch,
			Logger: log,
		}),
		recv: replication.NewReceiver(n.eng, replication.ReceiverOptions{
			Group: n.cfg.Group, NodeID: n.cfg.NodeID, Logger: log,
			DialOptions: n.peerDial, OnLeaderRefused: n.leaderRefused,
			// A cut or snapshot shortens the log: a new incarnation first.
			Incarnation: n.inc.ID,
			BeforeReplace: func(what string) error {
				if err := n.inc.renew(what, false); err != nil {
					return err
				}
				log.Warn("new incarnation: the log is about to be "+map[string]string{"cut": "cut", "snapshot": "replaced by a snapshot"}[what]+"; this node is no longer in the sync set under its old one",
					"incarnation", n.inc.ID())
				return nil
			},
		}),
	}
}

// RegisterPeer implements Replicator.
func (r *streamReplicator) RegisterPeer(s *grpc.Server) { r.sender.Register(s) }

// Follow implements Replicator: it (re)starts the receiver unless it
// already follows leader at the same epoch and is still running.
func (r *streamReplicator) Follow(leader ha.LeaderInfo) {
	if leader.PeerAddr == "" {
		r.StopFollow()
		return
	}
	r.mu.Lock()
	same := r.leader == leader.PeerAddr && r.epoch == leader.Epoch
	r.leader, r.epoch = leader.PeerAddr, leader.Epoch
	r.mu.Unlock()
	if same && r.recv.Running() {
		return // also in the middle of a cut or a snapshot install
	}
	r.recv.Follow(context.Background(), leader.PeerAddr, leader.Epoch)
}

// StopFollow implements Replicator.
func (r *streamReplicator) StopFollow() {
	r.mu.Lock()
	r.leader, r.epoch = "", 0
	r.mu.Unlock()
	r.recv.Stop()
}

// BeforePromote implements Replicator: stop following, then wait until
// everything received (and applied) is durable in the local WAL.
func (r *streamReplicator) BeforePromote(ctx context.Context, epoch uint64) error {
	r.StopFollow()
	lsn := r.eng.LastLSN()
	if err := r.eng.WaitDurable(ctx, lsn); err != nil {
		return fmt.Errorf("replication: drain before promotion to epoch %d: wait durable %d: %w", epoch, lsn, err)
	}
	return nil
}

// Eligible implements Replicator: every live member may be promoted (the
// highest position wins; sync mode further requires the sync set), except
// this node while its log diverged or its state is being replaced by a
// snapshot.
func (r *streamReplicator) Eligible(m arbiter.MemberStatus) bool {
	if m.NodeID != r.nodeID {
		return true
	}
	switch r.recv.Status().State {
	case replication.StateDiverged, replication.StateNeedSnapshot, replication.StateSnapshot:
		return false
	}
	return true
}

// sampleLag records this node's last LSN for lag in seconds and updates
// the per-standby lag metrics (called every loop tick).
func (r *streamReplicator) sampleLag(now time.Time) {
	last := r.eng.LastLSN()
	r.lag.observe(last, now)
	peers := r.sender.Peers()
	minDurable := last
	for _, p := range peers {
		minDurable = min(minDurable, p.DurableLSN)
		standbyLagLSN.WithLabelValues(r.nodeID, p.NodeID).Set(float64(last - min(last, p.DurableLSN)))
		standbyLagSeconds.WithLabelValues(r.nodeID, p.NodeID).Set(r.lag.lag(p.DurableLSN, now).Seconds())
	}
	r.lag.forget(minDurable)
}

// close stops following and ends every stream it serves.
func (r *streamReplicator) close() {
	r.StopFollow()
	r.sender.Close()
}

// ReplicationStatus is the replication part of Status.
type ReplicationStatus struct {
	// Mode is async or sync; MinSyncStandbys applies to sync.
	Mode            string `json:"mode"`
	MinSyncStandbys int    `json:"min_sync_standbys,omitempty"`
	// Sync is the sync set this node keeps as the active (sync mode).
	Sync *SyncStatus `json:"sync,omitempty"`
	// Receiver is this node's receiver state (idle, connecting,
	// streaming, diverged, need_snapshot) and the peer it follows.
	Receiver     string `json:"receiver"`
	Following    string `json:"following,omitempty"`
	CutAfter     uint64 `json:"cut_after,omitempty"`
	SnapshotFrom uint64 `json:"snapshot_from,omitempty"`
	LastErr      string `json:"last_err,omitempty"`
	// Cuts counts the times this node cut its log after a divergence
	// (LastCut: the newest; the cut records are in DATA_DIR/diverged/),
	// Snapshots the snapshots it installed; Snapshot is the transfer in
	// progress.
	Cuts      int                           `json:"cuts,omitempty"`
	LastCut   *engine.CutReport             `json:"last_cut,omitempty"`
	Snapshots int                           `json:"snapshots,omitempty"`
	Snapshot  *replication.SnapshotProgress `json:"snapshot,omitempty"`
	// Standbys are the standbys streaming from this node.
	Standbys []StandbyStatus `json:"standbys,omitempty"`
}

// StandbyStatus is a connected standby as the active sees it; LagLSN is
// how many of the active's applied records it does not have durable yet,
// LagSeconds how long ago the oldest of them was applied here (it keeps
// growing while the stream stalls).
type StandbyStatus struct {
	replication.PeerState
	LagLSN     uint64  `json:"lag_lsn"`
	LagSeconds float64 `json:"lag_seconds"`
}

func (r *streamReplicator) status(mode string, k int) *ReplicationStatus {
	rs := r.recv.Status()
	if mode != SyncSync {
		k = 0
	}
	out := &ReplicationStatus{Mode: mode, MinSyncStandbys: k, Receiver: rs.State.String(), Following: rs.Leader, CutAfter: rs.CutAfter,
		SnapshotFrom: rs.SnapshotFrom}
	out.Cuts, out.Snapshots = rs.Cuts, rs.Snapshots
	if rs.Cuts > 0 {
		c := rs.LastCut
		out.LastCut = &c
	}
	if rs.Snapshot.Total > 0 {
		p := rs.Snapshot
		out.Snapshot = &p
	}
	last, now := r.eng.LastLSN(), time.Now()
	for _, p := range r.sender.Peers() {
		out.Standbys = append(out.Standbys, StandbyStatus{PeerState: p, LagLSN: last - min(last, p.DurableLSN),
			LagSeconds: r.lag.lag(p.DurableLSN, now).Seconds()})
	}
	slices.SortFunc(out.Standbys, func(a, b StandbyStatus) int { return strings.Compare(a.NodeID, b.NodeID) })
	if rs.LastErr != nil {
		out.LastErr = rs.LastErr.Error()
	}
	return out
}

// leaderRefused is the receiver's OnLeaderRefused: it forwards to the
// loop once the loop runs.
func (n *Node) leaderRefused(peer string) {
	if f := n.onLeaderRefused.Load(); f != nil {
		(*f)(peer)
	}
}
