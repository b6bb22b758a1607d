package ha

import (
	"fmt"
	"time"
)

// Role is a node's role in its HA group.
type Role uint8

// Roles. Every node starts as Standby; Stopped is terminal.
const (
	// Standby: follows the leader the arbiter names (if any); refuses
	// client writes.
	Standby Role = iota
	// Candidate: live session, no leader; campaigns (at once when it is the
	// best placed eligible member, otherwise after StandAsideTimeout).
	Candidate
	// Active: holds the leader key at its epoch; writes are open once the
	// epoch-start record is durable and while the write deadline holds.
	Active
	// Fenced: was active, but its write deadline passed without a renewal:
	// writes are closed until the arbiter says what happened.
	Fenced
	// Stopped: after a graceful stop; ignores every event.
	Stopped
	// Broken: the storage engine failed (a sticky WAL/fsync error, e.g. a
	// full disk): writes are closed, the lead was resigned, and the node
	// neither follows nor campaigns until it is restarted. It keeps a
	// session so that its member key shows "broken". Terminal until
	// restart (only Stop leaves it).
	Broken
)

var roleNames = [...]string{"standby", "candidate", "active", "fenced", "stopped", "broken"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Position is a log position: the epoch of the last record and its LSN.
// Positions order by epoch, then LSN.
type Position struct {
	Epoch uint64
	LSN   uint64
}

// Less reports whether p is before q.
func (p Position) Less(q Position) bool {
	if p.Epoch != q.Epoch {
		return p.Epoch < q.Epoch
	}
	return p.LSN < q.LSN
}

func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Epoch, p.LSN) }

// LeaderInfo is the group's leader key as observed at the arbiter.
type LeaderInfo struct {
	NodeID   string
	Addr     string // client (Milvus) address
	PeerAddr string // replication address
	Epoch    uint64
	// LeaseID is the lease the key is bound to: the leader key is this
	// node's own only if it is on this node's current session's lease.
	LeaseID int64
}

// Member is another member's reported state, as the loop observed it.
type Member struct {
	NodeID   string
	Position Position // durable position
	// Eligible: the member may be promoted (in the sync set, or within the
	// allowed lag). The loop computes it; for this node's own
	// entry it decides whether this node may campaign (absent = eligible).
	Eligible bool
}

// Self describes this node to the machine.
type Self struct {
	Addr     string
	PeerAddr string
	// Position is the local log's last durable position at start.
	Position Position
}

// Event is an input to Machine.Step. Time reaches the machine only in
// events (Tick.Now, and the SentAt of lease grants and renewals).
type Event interface{ isEvent() }

// SessionUp: a new lease was granted; the grant request was sent at SentAt
// (so the lease lives at least until SentAt + TTL at the arbiter).
type SessionUp struct {
	LeaseID int64
	SentAt  time.Time
}

// SessionLost: the session's lease is gone or no longer renewed
// (Session.Done closed, or a keep-alive said the lease does not exist).
type SessionLost struct{ LeaseID int64 }

// Renewed: a keep-alive of lease LeaseID sent at SentAt was acknowledged,
// so the lease lives at least until SentAt + TTL at the arbiter.
type Renewed struct {
	LeaseID int64
	SentAt  time.Time
}

// LeaderObserved: the leader key holds Leader, as of arbiter revision Rev
// (0 = unknown: always applied). Observations older than one already
// applied are ignored.
type LeaderObserved struct {
	Leader LeaderInfo
	Rev    int64
}

// LeaderGone: there is no leader key, as of revision Rev (0 = unknown).
type LeaderGone struct{ Rev int64 }

// MembersObserved: the full list of live members (member keys), as of
// revision Rev (0 = unknown).
type MembersObserved struct {
	Members []Member
	Rev     int64
}

// CampaignResult reports the outcome of a Campaign action. Rev is the
// create revision of the leader key won (0 = unknown); Err is set when the
// outcome is unknown or the campaign could not be run.
type CampaignResult struct {
	Won   bool
	Epoch uint64
	Rev   int64
	Err   error
}

// Promoted reports the outcome of a Promote action: the epoch-start record
// of Epoch is durable at LSN (or Err says why not).
type Promoted struct {
	Epoch uint64
	LSN   uint64
	Err   error
}

// ArbiterUnreachable: requests to the arbiter are failing.
type ArbiterUnreachable struct{}

// ArbiterReachable: requests to the arbiter succeed again.
type ArbiterReachable struct{}

// Tick carries the current time (a monotonic clock reading). Times that go
// backwards are ignored.
type Tick struct{ Now time.Time }

// LocalPosition: the local log's durable position changed.
type LocalPosition struct{ Position Position }

// Stop: graceful stop. An active closes writes and resigns.
type Stop struct{}

// LeaderPeerRefused: after the replication stream from the leader holding
// lease LeaseID ended, its peer port refused new connections (nothing
// listens there: the leader's process is gone), although its lease may
// live on at the arbiter for up to LeaseTTL.
type LeaderPeerRefused struct{ LeaseID int64 }

// EngineFailed: the storage engine failed for good (its WAL's sticky
// error: ENOSPC on write, EIO on fsync, ...); Cause says why. The node
// becomes Broken: an active closes writes and resigns (its lease is
// revoked, so the leader key goes at once), a standby stops following,
// and it never campaigns again until restarted.
type EngineFailed struct{ Cause string }

func (SessionUp) isEvent()          {}
func (SessionLost) isEvent()        {}
func (Renewed) isEvent()            {}
func (LeaderObserved) isEvent()     {}
func (LeaderGone) isEvent()         {}
func (MembersObserved) isEvent()    {}
func (CampaignResult) isEvent()     {}
func (Promoted) isEvent()           {}
func (ArbiterUnreachable) isEvent() {}
func (ArbiterReachable) isEvent()   {}
func (Tick) isEvent()               {}
func (LocalPosition) isEvent()      {}
func (Stop) isEvent()               {}
func (LeaderPeerRefused) isEvent()  {}
func (EngineFailed) isEvent()       {}

// Action is an output of Machine.Step, for the loop to execute in order.
type Action interface{ isAction() }

// Campaign: try to take the leader key on the current session (and report
// a CampaignResult).
type Campaign struct{}

// Promote: stop following, apply everything received, write the
// epoch-start record of Epoch, and report Promoted.
type Promote struct{ Epoch uint64 }

// OpenWrites: acknowledge client writes at Epoch until Until (exclusive).
type OpenWrites struct {
	Epoch uint64
	Until time.Time
}

// ExtendWrites: move the open writes' deadline to Until (later only).
type ExtendWrites struct{ Until time.Time }

// CloseWrites: stop acknowledging client writes now. Idempotent.
type CloseWrites struct{}

// Follow: replicate from Leader (replaces any previous leader).
type Follow struct{ Leader LeaderInfo }

// StopFollow: stop replicating.
type StopFollow struct{}

// Resign: revoke the current session's lease now (its member and leader
// keys vanish). No SessionLost is expected for it.
type Resign struct{}

// NewSession: obtain a new session (and report SessionUp).
type NewSession struct{}

// PublishStatus: the role or epoch changed; publish the member status.
type PublishStatus struct {
	Role  Role
	Epoch uint64
}

// EndLeaderLease: ask the arbiter to revoke lease LeaseID, the dead
// leader's, now rather than when it expires (its leader and member keys
// vanish and the eligible members campaign). The loop revokes it only if
// the leader key is still on that lease.
type EndLeaderLease struct{ LeaseID int64 }

func (Campaign) isAction()       {}
func (EndLeaderLease) isAction() {}
func (Promote) isAction()        {}
func (OpenWrites) isAction()     {}
func (ExtendWrites) isAction()   {}
func (CloseWrites) isAction()    {}
func (Follow) isAction()         {}
func (StopFollow) isAction()     {}
func (Resign) isAction()         {}
func (NewSession) isAction()     {}
func (PublishStatus) isAction()  {}
