// Package ha holds the role logic of a standalone HA group member
// (docs/architecture.md §3) as a pure state machine, in the style of etcd-io/raft: no
// goroutines, no clock reads and no I/O. The loop around it (package node)
// turns arbiter notifications, timers and the results of its own work into
// Events, calls Machine.Step for each, and executes the returned Actions in
// order.
//
// # Roles
//
//	Standby ──(live session, no leader)──▶ Candidate ──(campaign won)──▶ Active
//	   ▲                                        │                          │
//	   └──(leader observed / session lost)──────┘      (deadline passed)   ▼
//	   └──────────(session back, or another leader observed)────────── Fenced
//
//	any role except Stopped ──(EngineFailed)──▶ Broken (resigns; until restart)
//
// A node always starts as Standby. With a live session and no leader it
// becomes Candidate; the best placed live eligible member (highest durable
// position, ties to the smallest node id) campaigns at once, the others
// stand aside for StandAsideTimeout and then campaign if there is still no
// leader. A leader observed at the arbiter makes every other node a Standby
// that follows it.
//
// # Write deadline (self-fencing)
//
// Each lease grant or keep-alive acknowledged by the arbiter, sent at
// SentAt, proves the lease lives at least until SentAt + LeaseTTL; the
// machine's write deadline is SentAt + LeaseTTL - FenceMargin (the latest
// such proof of the current session). An Active opens writes only with a
// deadline in the future (OpenWrites carries it), extends it as renewals
// come in (ExtendWrites), and on the first Tick at or after it becomes
// Fenced, emitting CloseWrites before anything else. The loop's write gate
// also compares its own clock with the deadline at every write, so writes
// stop on time even if ticks are late.
//
// # Revisions
//
// Leader and member observations carry the arbiter revision they hold at;
// an observation older than one already applied is ignored, and a won
// campaign records its leader key's create revision, so stale watch events
// that were queued before the win cannot demote the new active.
package ha

import (
	"slices"
	"time"
)

type leaderState uint8

const (
	leaderUnknown leaderState = iota // not yet read from the arbiter
	leaderNone                       // no leader key
	leaderKnown                      // leader holds the key
)

// Machine is the role state machine of one node. It is not safe for
// concurrent use: one loop owns it.
type Machine struct {
	cfg  Config
	self Self

	role        Role
	epoch       uint64 // highest epoch known; never decreases
	activeEpoch uint64 // the epoch this node leads at (Active, Fenced)
	pos         Position
	broken      bool   // promotion failed: never campaign again
	brokenCause string // EngineFailed's cause (role Broken)

	now     time.Time
	haveNow bool

	session bool
	leaseID int64
	until   time.Time // deadline proven by the current session; zero if none

	reachable bool

	leaderState leaderState
	leader      LeaderInfo
	leaderRev   int64
	awaitOwn    bool // won without a revision: ignore LeaderGone until my key is seen

	members    []Member
	membersRev int64

	following    bool
	followLeader LeaderInfo

	campaigning     bool
	retryAt         time.Time
	standAsideSet   bool
	standAsideUntil time.Time

	// leaseEndAsked is the leader lease this node last asked the arbiter
	// to end (EndLeaderLease), so it asks once per lease.
	leaseEndAsked int64

	promoted   bool
	writesOpen bool
	openUntil  time.Time

	pubRole  Role
	pubEpoch uint64

	out []Action
}

// New returns a machine in the Standby role. cfg is used as given (call
// WithDefaults and Validate first).
func New(cfg Config, self Self) *Machine {
	return &Machine{
		cfg:       cfg,
		self:      self,
		role:      Standby,
		pos:       self.Position,
		epoch:     self.Position.Epoch,
		reachable: true,
		pubRole:   Standby,
		pubEpoch:  self.Position.Epoch,
	}
}

// Role is the current role.
func (m *Machine) Role() Role { return m.role }

// Epoch is the highest epoch this node knows of: its own as the active, or
// the leader's, or its log's. It never decreases.
func (m *Machine) Epoch() uint64 { return m.epoch }

// Config returns the machine's configuration.
func (m *Machine) Config() Config { return m.cfg }

// Status is a snapshot of the machine for status pages and tests.
type Status struct {
	Role        Role
	Epoch       uint64
	ActiveEpoch uint64 // epoch led (Active, Fenced), else 0
	// Leader is the leader key as last observed (HasLeader false: none or
	// not yet known).
	HasLeader  bool
	Leader     LeaderInfo
	Following  bool
	Session    bool
	LeaseID    int64
	Deadline   time.Time // write deadline proven by the current session
	WritesOpen bool
	OpenUntil  time.Time
	Reachable  bool
	Position   Position
	Members    []Member
	// Broken is why the engine failed (role Broken), else "".
	Broken string
}

// Status returns a snapshot of the machine.
func (m *Machine) Status() Status {
	st := Status{
		Role: m.role, Epoch: m.epoch, ActiveEpoch: m.activeEpoch,
		HasLeader: m.leaderState == leaderKnown, Following: m.following,
		Session: m.session, LeaseID: m.leaseID, Deadline: m.until,
		WritesOpen: m.writesOpen, OpenUntil: m.openUntil, Reachable: m.reachable,
		Position: m.pos, Members: slices.Clone(m.members), Broken: m.brokenCause,
	}
	if st.HasLeader {
		st.Leader = m.leader
	}
	return st
}

// Step applies one event and returns the actions to execute, in order.
// The returned slice is owned by the caller.
func (m *Machine) Step(ev Event) []Action {
	m.out = nil
	if m.role == Stopped {
		return nil
	}
	switch ev := ev.(type) {
	case Tick:
		if !m.haveNow || ev.Now.After(m.now) {
			m.now, m.haveNow = ev.Now, true
		}
	case SessionUp:
		m.onSessionUp(ev)
	case SessionLost:
		if !m.session || ev.LeaseID != m.leaseID {
			break // an earlier session's end
		}
		m.loseSession()
		m.emit(NewSession{})
	case Renewed:
		m.onRenewed(ev)
	case LeaderObserved:
		m.onLeader(ev)
	case LeaderGone:
		if ev.Rev != 0 && ev.Rev < m.leaderRev {
			break
		}
		m.leaderRev = max(m.leaderRev, ev.Rev)
		if m.leading() && m.awaitOwn {
			// Queued before my own key was created.
			break
		}
		m.leaderState = leaderNone
	case MembersObserved:
		if ev.Rev != 0 && ev.Rev < m.membersRev {
			break
		}
		m.membersRev = max(m.membersRev, ev.Rev)
		m.members = slices.Clone(ev.Members)
	case CampaignResult:
		m.onCampaignResult(ev)
	case Promoted:
		m.onPromoted(ev)
	case ArbiterUnreachable:
		m.reachable = false
	case ArbiterReachable:
		m.reachable = true
	case LocalPosition:
		m.pos = ev.Position
		m.epoch = max(m.epoch, ev.Position.Epoch)
	case LeaderPeerRefused:
		m.onLeaderPeerRefused(ev)
	case Stop:
		m.stop()
		return m.flush()
	case EngineFailed:
		m.onEngineFailed(ev)
	}
	m.advance()
	return m.flush()
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

// flush appends PublishStatus when the role or epoch changed and returns
// the actions.
func (m *Machine) flush() []Action {
	if m.role != Stopped && (m.role != m.pubRole || m.epoch != m.pubEpoch) {
		m.pubRole, m.pubEpoch = m.role, m.epoch
		m.emit(PublishStatus{Role: m.role, Epoch: m.epoch})
	}
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) onSessionUp(ev SessionUp) {
	if m.session {
		if ev.LeaseID == m.leaseID {
			return
		}
		// A second session replaces the first: the first is as good as lost.
		m.loseSession()
	}
	m.session, m.leaseID = true, ev.LeaseID
	m.until = m.cfg.Deadline(ev.SentAt)
	m.reachable = true
	if m.role == Fenced {
		m.setRole(Standby)
	}
}

func (m *Machine) onRenewed(ev Renewed) {
	if !m.session || ev.LeaseID != m.leaseID {
		return
	}
	m.reachable = true
	u := m.cfg.Deadline(ev.SentAt)
	if !u.After(m.until) {
		return
	}
	m.until = u
	if m.writesOpen && m.haveNow && m.now.Before(u) && u.After(m.openUntil) {
		m.openUntil = u
		m.emit(ExtendWrites{Until: u})
	}
}

func (m *Machine) onLeader(ev LeaderObserved) {
	if ev.Rev != 0 && ev.Rev < m.leaderRev {
		return
	}
	l := ev.Leader
	if m.leading() && !m.isMine(l) && l.Epoch < m.activeEpoch {
		// A key older than mine (epochs strictly grow across leaders).
		return
	}
	m.leaderRev = max(m.leaderRev, ev.Rev)
	m.epoch = max(m.epoch, l.Epoch)
	m.leaderState, m.leader = leaderKnown, l
	if m.isMine(l) {
		m.awaitOwn = false
	}
}

func (m *Machine) onCampaignResult(ev CampaignResult) {
	if !m.campaigning {
		return // its session or candidacy already ended
	}
	m.campaigning = false
	if ev.Err != nil || !ev.Won {
		m.retryAt = m.now.Add(m.cfg.RenewInterval)
		return
	}
	if m.role != Candidate && m.role != Standby || !m.session {
		return
	}
	m.takeLead(ev.Epoch, ev.Rev, LeaderInfo{})
}

func (m *Machine) onPromoted(ev Promoted) {
	if (m.role != Active && m.role != Fenced) || ev.Epoch != m.activeEpoch || m.promoted {
		return
	}
	if ev.Err != nil {
		// The engine cannot write: hand the lead to somebody else and never
		// campaign again.
		m.broken = true
		m.resignAndRestart()
		return
	}
	m.promoted = true
	if p := (Position{Epoch: ev.Epoch, LSN: ev.LSN}); m.pos.Less(p) {
		m.pos = p
	}
}

// onEngineFailed makes the node Broken: writes close first, following
// stops, and a session is resigned (revoking its lease drops the leader
// key, if this node held it, and the member key) and replaced by a new one,
// on which the node publishes itself as broken. A node without a session
// has a new one on the way already (NewSession was emitted when it lost
// the last one). Never campaigns again: only a restart leaves Broken.
func (m *Machine) onEngineFailed(ev EngineFailed) {
	if m.role == Broken {
		return
	}
	m.brokenCause = ev.Cause
	if m.brokenCause == "" {
		m.brokenCause = "storage engine failed"
	}
	m.closeWrites()
	m.stopFollowing()
	hadSession := m.session
	if hadSession {
		m.emit(Resign{})
	}
	m.loseSession()
	m.setRole(Broken)
	if hadSession {
		m.emit(NewSession{})
	}
}

// takeLead makes this node Active at epoch (won campaign, or its own key
// observed). A stale epoch (not above what this node's log or the arbiter
// already showed) means the arbiter's counter went backwards: resign.
func (m *Machine) takeLead(epoch uint64, rev int64, observed LeaderInfo) {
	if epoch <= m.pos.Epoch || epoch < m.epoch {
		m.resignAndRestart()
		return
	}
	m.stopFollowing()
	m.setRole(Active)
	m.activeEpoch = epoch
	m.epoch = max(m.epoch, epoch)
	m.promoted, m.writesOpen = false, false
	if observed.NodeID != "" {
		m.leader = observed
		m.awaitOwn = false
	} else {
		m.leader = LeaderInfo{NodeID: m.cfg.NodeID, Addr: m.self.Addr, PeerAddr: m.self.PeerAddr, Epoch: epoch, LeaseID: m.leaseID}
		m.leaderRev = max(m.leaderRev, rev)
		m.awaitOwn = rev == 0
	}
	m.leaderState = leaderKnown
	m.emit(Promote{Epoch: epoch})
}

// leading: Active or Fenced (this node took the lead at activeEpoch).
func (m *Machine) leading() bool { return m.role == Active || m.role == Fenced }

// resignAndRestart revokes the current session and asks for a new one, as
// a Standby.
func (m *Machine) resignAndRestart() {
	m.closeWrites()
	if m.session {
		m.emit(Resign{})
	}
	m.loseSession()
	m.emit(NewSession{})
}

// loseSession forgets the current session: writes close, the role drops to
// Standby.
func (m *Machine) loseSession() {
	m.closeWrites()
	m.session, m.leaseID, m.until = false, 0, time.Time{}
	m.campaigning = false
	m.clearLead()
	if m.role != Standby && m.role != Broken {
		m.setRole(Standby)
	}
}

func (m *Machine) stop() {
	m.closeWrites()
	m.stopFollowing()
	if m.session {
		m.emit(Resign{})
	}
	m.session, m.leaseID, m.until = false, 0, time.Time{}
	m.campaigning = false
	m.clearLead()
	m.role = Stopped
}

// closeWrites emits CloseWrites if writes are open.
func (m *Machine) closeWrites() {
	if m.writesOpen {
		m.emit(CloseWrites{})
	}
	m.writesOpen, m.openUntil = false, time.Time{}
}

func (m *Machine) clearLead() {
	m.activeEpoch, m.promoted, m.awaitOwn = 0, false, false
}

func (m *Machine) stopFollowing() {
	if m.following {
		m.following, m.followLeader = false, LeaderInfo{}
		m.emit(StopFollow{})
	}
}

func (m *Machine) setRole(r Role) {
	if r == Candidate && m.role != Candidate {
		m.standAsideSet = false
	}
	m.role = r
}

// isMine reports whether l is this node's key on its current session.
func (m *Machine) isMine(l LeaderInfo) bool {
	return m.session && l.NodeID == m.cfg.NodeID && l.LeaseID == m.leaseID
}

func (m *Machine) leaderMine() bool    { return m.leaderState == leaderKnown && m.isMine(m.leader) }
func (m *Machine) leaderForeign() bool { return m.leaderState == leaderKnown && !m.isMine(m.leader) }

// deadlineValid reports whether the current session's deadline is in the
// future.
func (m *Machine) deadlineValid() bool {
	return m.session && m.haveNow && m.now.Before(m.until)
}

// advance applies the role rules until nothing changes.
func (m *Machine) advance() {
	for range 8 {
		if !m.advanceOnce() {
			return
		}
	}
}

func (m *Machine) advanceOnce() bool {
	switch m.role {
	case Active:
		return m.advanceActive()
	case Fenced:
		return m.advanceFenced()
	case Candidate:
		return m.advanceCandidate()
	case Standby:
		return m.advanceStandby()
	}
	return false // Broken, Stopped: nothing to do
}

func (m *Machine) advanceActive() bool {
	if m.haveNow && !m.now.Before(m.until) {
		// Self-fence: the lease may be about to expire at the arbiter.
		m.closeWrites()
		m.setRole(Fenced)
		return true
	}
	if m.leaderForeign() || (m.leaderState == leaderNone && !m.awaitOwn) {
		// Another leader at a higher epoch, or my key is gone.
		m.closeWrites()
		m.clearLead()
		m.setRole(Standby)
		return true
	}
	if m.promoted && !m.writesOpen && m.deadlineValid() {
		m.writesOpen, m.openUntil = true, m.until
		m.emit(OpenWrites{Epoch: m.activeEpoch, Until: m.until})
	}
	return false
}

func (m *Machine) advanceFenced() bool {
	if m.leaderForeign() && m.leader.Epoch > m.activeEpoch {
		m.closeWrites()
		m.clearLead()
		m.setRole(Standby)
		return true
	}
	if !m.deadlineValid() {
		return false // wait for a renewal, the session's loss, or a new leader
	}
	// A renewal proved the session alive again.
	switch {
	case m.leaderMine():
		m.setRole(Active) // reopens writes once promoted
	case m.leaderState == leaderUnknown:
		return false
	default:
		m.closeWrites()
		m.clearLead()
		m.setRole(Standby)
	}
	return true
}

func (m *Machine) advanceStandby() bool {
	if m.leaderMine() && !m.campaigning {
		// My key on my session (a campaign whose result was lost).
		m.takeLead(m.leader.Epoch, 0, m.leader)
		return true
	}
	if m.leaderForeign() {
		l := m.leader
		if l.NodeID == m.cfg.NodeID {
			// My own key from an earlier session: it vanishes when that
			// lease expires; there is nobody to follow meanwhile.
			m.stopFollowing()
			return false
		}
		if !m.following || m.followLeader != l {
			m.following, m.followLeader = true, l
			m.emit(Follow{Leader: l})
		}
		return false
	}
	if m.session && m.leaderState == leaderNone {
		m.stopFollowing()
		m.setRole(Candidate)
		return true
	}
	return false
}

func (m *Machine) advanceCandidate() bool {
	switch {
	case !m.session || m.leaderState != leaderNone && !m.leaderMine():
		m.setRole(Standby)
		return true
	case m.leaderMine():
		if m.campaigning {
			return false // the result is on its way
		}
		m.takeLead(m.leader.Epoch, 0, m.leader)
		return true
	case m.campaigning || !m.reachable || m.broken || !m.deadlineValid() || !m.selfEligible():
		// Campaign only on a session proven alive now.
		return false
	case m.now.Before(m.retryAt):
		return false
	}
	if !m.isBest() {
		if !m.standAsideSet {
			m.standAsideSet, m.standAsideUntil = true, m.now.Add(m.cfg.StandAsideTimeout)
		}
		if m.now.Before(m.standAsideUntil) {
			return false
		}
	}
	m.campaigning = true
	m.emit(Campaign{})
	return false
}

// onLeaderPeerRefused asks the arbiter to end a dead leader's lease early
// (Config.EndDeadLeaderLease): only a standby with a live session that
// follows that leader and may itself be promoted asks, once per lease.
func (m *Machine) onLeaderPeerRefused(ev LeaderPeerRefused) {
	if !m.cfg.EndDeadLeaderLease || ev.LeaseID == 0 || !m.session || !m.reachable ||
		m.role != Standby || !m.leaderForeign() || m.leader.LeaseID != ev.LeaseID ||
		!m.selfEligible() || m.leaseEndAsked == ev.LeaseID {
		return
	}
	m.leaseEndAsked = ev.LeaseID
	m.emit(EndLeaderLease{LeaseID: ev.LeaseID})
}

// selfEligible: this node's own member entry, if any, says it is eligible.
func (m *Machine) selfEligible() bool {
	for _, o := range m.members {
		if o.NodeID == m.cfg.NodeID {
			return o.Eligible
		}
	}
	return true
}

// isBest reports whether no other live eligible member is better placed
// (higher position; ties to the smaller node id).
func (m *Machine) isBest() bool {
	for _, o := range m.members {
		if o.NodeID == m.cfg.NodeID || !o.Eligible {
			continue
		}
		if m.pos.Less(o.Position) || (o.Position == m.pos && o.NodeID < m.cfg.NodeID) {
			return false
		}
	}
	return true
}
