package ha

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The scripts below use TTL 2s, RenewInterval 500ms, FenceMargin 500ms,
// StandAsideTimeout 2s: a grant or renewal sent at t gives the deadline
// t+1.5s; the lease lives at the arbiter until at least t+2s.
var t0 = time.Unix(1_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func testConfig(id string) Config {
	return Config{NodeID: id, LeaseTTL: 2 * time.Second, RenewInterval: 500 * time.Millisecond,
		FenceMargin: 500 * time.Millisecond, StandAsideTimeout: 2 * time.Second}
}

const lease1, lease2 = 101, 102

func n1Key(epoch uint64) LeaderInfo {
	return LeaderInfo{NodeID: "n1", Addr: "a1", PeerAddr: "p1", Epoch: epoch, LeaseID: lease1}
}
func n2Key(epoch uint64) LeaderInfo {
	return LeaderInfo{NodeID: "n2", Addr: "a2", PeerAddr: "p2", Epoch: epoch, LeaseID: 902}
}

// step is one line of a script: an event, the exact actions it must
// produce, and the role after it.
type step struct {
	ev   Event
	want []Action
	role Role
}

func runScript(t *testing.T, m *Machine, script []step) {
	t.Helper()
	for i, s := range script {
		got := m.Step(s.ev)
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d %T%+v:\n got  %s\n want %s", i, s.ev, s.ev, fmtActions(got), fmtActions(s.want))
		}
		if m.Role() != s.role {
			t.Fatalf("step %d %T%+v: role %v, want %v", i, s.ev, s.ev, m.Role(), s.role)
		}
	}
}

func fmtActions(as []Action) string {
	var b strings.Builder
	b.WriteString("[")
	for i, a := range as {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%T%+v", a, a)
	}
	b.WriteString("]")
	return b.String()
}

func acts(a ...Action) []Action { return a }

func newN1(pos Position) *Machine {
	return New(testConfig("n1"), Self{Addr: "a1", PeerAddr: "p1", Position: pos})
}

// activeN1 scripts n1 from start to Active at epoch 1 with writes open
// until 1500ms (grant sent at 0).
func activeN1(t *testing.T) *Machine {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n1", Eligible: true}}, 3}, nil, Standby},
		{LeaderGone{4}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Won: true, Epoch: 1, Rev: 5}, acts(Promote{1}, PublishStatus{Active, 1}), Active},
		{LeaderObserved{n1Key(1), 5}, nil, Active},
		{Promoted{Epoch: 1, LSN: 1}, acts(OpenWrites{1, at(1500)}), Active},
	})
	return m
}

func TestStartNoLeaderBecomesActive(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(100)}, nil, Active},
		{Renewed{lease1, at(500)}, acts(ExtendWrites{at(2000)}), Active},
		// A renewal that proves nothing newer extends nothing.
		{Renewed{lease1, at(400)}, nil, Active},
		{Tick{at(1999)}, nil, Active},
	})
	if st := m.Status(); !st.WritesOpen || st.OpenUntil != at(2000) || m.Epoch() != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestNoWritesBeforeEpochStartDurable(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{4}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Won: true, Epoch: 1, Rev: 5}, acts(Promote{1}, PublishStatus{Active, 1}), Active},
		{Tick{at(1000)}, nil, Active},
		{Renewed{lease1, at(500)}, nil, Active},
		// The promotion took until after the deadline: fenced, never opened.
		{Tick{at(2000)}, acts(PublishStatus{Fenced, 1}), Fenced},
		{Promoted{Epoch: 1, LSN: 1}, nil, Fenced},
		// A renewal brings the lease back: writes open.
		{Renewed{lease1, at(1900)}, acts(OpenWrites{1, at(3400)}, PublishStatus{Active, 1}), Active},
	})
}

func TestResurrectedActiveComesUpStandby(t *testing.T) {
	// n1 was active at epoch 3; meanwhile n2 leads at epoch 4.
	m := newN1(Position{Epoch: 3, LSN: 100})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n2", Position: Position{4, 120}, Eligible: true}}, 7}, nil, Standby},
		{LeaderObserved{n2Key(4), 7}, acts(Follow{n2Key(4)}, PublishStatus{Standby, 4}), Standby},
		{Tick{at(10_000)}, nil, Standby},
		// Re-observing the same leader changes nothing.
		{LeaderObserved{n2Key(4), 8}, nil, Standby},
	})
	if m.Epoch() != 4 {
		t.Fatalf("epoch %d", m.Epoch())
	}
}

func TestStandbyNeverCampaignsWithoutSession(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{LeaderGone{4}, nil, Standby},
		{Tick{at(5000)}, nil, Standby},
		{SessionUp{lease1, at(5000)}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
	})
}

func TestLeaderKeyVanishes(t *testing.T) {
	m := newN1(Position{Epoch: 1, LSN: 50})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n1", Position: Position{1, 50}, Eligible: true}, {NodeID: "n3", Position: Position{1, 40}, Eligible: true}}, 7}, nil, Standby},
		{LeaderObserved{n2Key(2), 7}, acts(Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
		{LeaderGone{9}, acts(StopFollow{}, Campaign{}, PublishStatus{Candidate, 2}), Candidate},
		{CampaignResult{Won: true, Epoch: 3, Rev: 10}, acts(Promote{3}, PublishStatus{Active, 3}), Active},
		// A stale event queued before my win is ignored.
		{LeaderObserved{n2Key(2), 8}, nil, Active},
		{LeaderGone{9}, nil, Active},
		{Promoted{Epoch: 3, LSN: 51}, acts(OpenWrites{3, at(1500)}), Active},
	})
	if st := m.Status(); st.Position != (Position{3, 51}) {
		t.Fatalf("position %v", st.Position)
	}
}

func TestMyLeaseLost(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		// A loss of some other (older) lease is ignored.
		{SessionLost{77}, nil, Active},
		{SessionLost{lease1}, acts(CloseWrites{}, NewSession{}, PublishStatus{Standby, 1}), Standby},
		{Tick{at(200)}, nil, Standby},
		// My old key is still visible until the watch reports it gone.
		{SessionUp{lease2, at(300)}, nil, Standby},
		{LeaderGone{9}, acts(Campaign{}, PublishStatus{Candidate, 1}), Candidate},
		{CampaignResult{Won: true, Epoch: 2, Rev: 11}, acts(Promote{2}, PublishStatus{Active, 2}), Active},
	})
}

func TestArbiterUnreachableFencesBeforeExpiry(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Renewed{lease1, at(500)}, acts(ExtendWrites{at(2000)}), Active},
		{ArbiterUnreachable{}, nil, Active},
		{Tick{at(1000)}, nil, Active},
		{Tick{at(1999)}, nil, Active},
		// Deadline (500+2000-500) reached: close writes first.
		{Tick{at(2000)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
		{Tick{at(2300)}, nil, Fenced},
		// The lease expires at the arbiter no earlier than 500+2000 = 2500.
		{SessionLost{lease1}, acts(NewSession{}, PublishStatus{Standby, 1}), Standby},
		{ArbiterReachable{}, nil, Standby},
		{SessionUp{lease2, at(3000)}, nil, Standby},
		{LeaderObserved{n2Key(2), 20}, acts(Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
	})
}

func TestFencedResumesWhenRenewalSucceeds(t *testing.T) {
	// An arbiter blip (e.g. an etcd leader election) longer than the
	// margin: writes pause, then resume at the same epoch, no failover.
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
		// A keep-alive sent before the deadline but answered late.
		{Tick{at(1800)}, nil, Fenced},
		{Renewed{lease1, at(1400)}, acts(OpenWrites{1, at(2900)}, PublishStatus{Active, 1}), Active},
	})
}

func TestFencedRenewalAfterKeyGone(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
		{LeaderGone{30}, nil, Fenced},
		{Tick{at(1600)}, nil, Fenced},
		// The lease lives, the key does not (deleted by an operator): new election.
		{Renewed{lease1, at(1550)}, acts(Campaign{}, PublishStatus{Candidate, 1}), Candidate},
	})
}

func TestFencedSeesNewLeader(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
		{LeaderObserved{n2Key(2), 40}, acts(Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
		// A late renewal of the old session does not bring back the lead.
		{Renewed{lease1, at(1600)}, nil, Standby},
	})
}

func TestActiveStepsDownForHigherLeader(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		// Lower epoch: a stale key.
		{LeaderObserved{n2Key(0), 0}, nil, Active},
		{LeaderObserved{n2Key(2), 40}, acts(CloseWrites{}, Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
	})
}

func TestActiveKeyDeleted(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{LeaderGone{4}, nil, Active}, // older than my key (rev 5)
		{LeaderGone{40}, acts(CloseWrites{}, Campaign{}, PublishStatus{Candidate, 1}), Candidate},
	})
}

func TestWonWithoutRevisionIgnoresQueuedLeaderGone(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{0}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Won: true, Epoch: 1}, acts(Promote{1}, PublishStatus{Active, 1}), Active},
		{LeaderGone{0}, nil, Active},
		{LeaderObserved{n1Key(1), 0}, nil, Active},
		{Promoted{Epoch: 1, LSN: 1}, acts(OpenWrites{1, at(1500)}), Active},
		// After my key was seen, its deletion counts.
		{LeaderGone{0}, acts(CloseWrites{}, Campaign{}, PublishStatus{Candidate, 1}), Candidate},
	})
}

func TestCompetingCandidateWins(t *testing.T) {
	m := newN1(Position{Epoch: 1, LSN: 10})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n1", Position: Position{1, 10}, Eligible: true}, {NodeID: "n2", Position: Position{1, 20}, Eligible: true}}, 5}, nil, Standby},
		// I stand aside for n2.
		{LeaderGone{6}, acts(PublishStatus{Candidate, 1}), Candidate},
		{Tick{at(1000)}, nil, Candidate},
		{LeaderObserved{n2Key(2), 7}, acts(Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
	})
}

func TestCompetingCandidateDiesStandAsideTimeout(t *testing.T) {
	m := newN1(Position{Epoch: 1, LSN: 10})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n2", Position: Position{1, 20}, Eligible: true}}, 5}, nil, Standby},
		{LeaderGone{6}, acts(PublishStatus{Candidate, 1}), Candidate},
		{Tick{at(1999)}, nil, Candidate},
		{Renewed{lease1, at(1900)}, nil, Candidate},
		{Tick{at(2000)}, acts(Campaign{}), Candidate},
		{Tick{at(2100)}, nil, Candidate}, // one campaign at a time
		{CampaignResult{Won: true, Epoch: 2, Rev: 9}, acts(Promote{2}, PublishStatus{Active, 2}), Active},
	})
}

func TestCompetingCandidateMemberKeyVanishes(t *testing.T) {
	m := newN1(Position{Epoch: 1, LSN: 10})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{MembersObserved{[]Member{{NodeID: "n2", Position: Position{1, 20}, Eligible: true}}, 5}, nil, Standby},
		{LeaderGone{6}, acts(PublishStatus{Candidate, 1}), Candidate},
		{MembersObserved{[]Member{{NodeID: "n2", Position: Position{1, 20}, Eligible: true}}, 4}, nil, Candidate}, // stale
		{MembersObserved{nil, 8}, acts(Campaign{}), Candidate},
	})
}

func TestRanking(t *testing.T) {
	for _, tc := range []struct {
		name   string
		me     Position
		others []Member
		best   bool
	}{
		{"alone", Position{1, 5}, nil, true},
		{"higher lsn elsewhere", Position{1, 5}, []Member{{NodeID: "n2", Position: Position{1, 6}, Eligible: true}}, false},
		{"higher epoch elsewhere", Position{1, 50}, []Member{{NodeID: "n2", Position: Position{2, 1}, Eligible: true}}, false},
		{"lower elsewhere", Position{2, 1}, []Member{{NodeID: "n2", Position: Position{1, 50}, Eligible: true}}, true},
		{"better but ineligible", Position{1, 5}, []Member{{NodeID: "n2", Position: Position{1, 6}}}, true},
		{"tie smaller id wins", Position{1, 5}, []Member{{NodeID: "n0", Position: Position{1, 5}, Eligible: true}}, false},
		{"tie larger id loses", Position{1, 5}, []Member{{NodeID: "n2", Position: Position{1, 5}, Eligible: true}}, true},
		{"own stale entry ignored", Position{1, 5}, []Member{{NodeID: "n1", Position: Position{1, 9}, Eligible: true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newN1(tc.me)
			m.Step(Tick{at(0)})
			m.Step(SessionUp{lease1, at(0)})
			m.Step(MembersObserved{tc.others, 1})
			got := m.Step(LeaderGone{2})
			campaigned := len(got) > 0 && got[0] == Action(Campaign{})
			if campaigned != tc.best {
				t.Fatalf("actions %s, want campaign=%v", fmtActions(got), tc.best)
			}
		})
	}
}

func TestLostCampaign(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{2}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Won: false}, nil, Candidate},
		{Tick{at(400)}, nil, Candidate},
		{LeaderObserved{n2Key(1), 3}, acts(Follow{n2Key(1)}, PublishStatus{Standby, 1}), Standby},
	})
}

func TestCampaignErrorRetries(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{2}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Err: errors.New("timeout")}, nil, Candidate},
		{Tick{at(499)}, nil, Candidate},
		{Tick{at(500)}, acts(Campaign{}), Candidate},
		// The first attempt had in fact succeeded: my key appears.
		{CampaignResult{Err: errors.New("timeout")}, nil, Candidate},
		{LeaderObserved{n1Key(1), 3}, acts(Promote{1}, PublishStatus{Active, 1}), Active},
		{Promoted{Epoch: 1, LSN: 1}, acts(OpenWrites{1, at(1500)}), Active},
	})
}

func TestNoCampaignWhileArbiterUnreachableOrIneligible(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{ArbiterUnreachable{}, nil, Standby},
		{LeaderGone{2}, acts(PublishStatus{Candidate, 0}), Candidate},
		{Tick{at(5000)}, nil, Candidate},
		{MembersObserved{[]Member{{NodeID: "n1"}}, 3}, nil, Candidate}, // ineligible
		{ArbiterReachable{}, nil, Candidate},
		// Eligible, but the session's last proof of life is too old.
		{MembersObserved{[]Member{{NodeID: "n1", Eligible: true}}, 4}, nil, Candidate},
		{Renewed{lease1, at(4900)}, acts(Campaign{}), Candidate},
	})
}

func TestOwnStaleKeyFromEarlierSession(t *testing.T) {
	// n1 restarted quickly: its old leader key (old lease) is still there.
	m := newN1(Position{Epoch: 3, LSN: 9})
	old := LeaderInfo{NodeID: "n1", Addr: "a1", Epoch: 3, LeaseID: 55}
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderObserved{old, 5}, nil, Standby},
		{Tick{at(3000)}, nil, Standby},
		{Renewed{lease1, at(2900)}, nil, Standby},
		{LeaderGone{6}, acts(Campaign{}, PublishStatus{Candidate, 3}), Candidate},
		{CampaignResult{Won: true, Epoch: 4, Rev: 7}, acts(Promote{4}, PublishStatus{Active, 4}), Active},
	})
}

func TestStaleEpochWinResigns(t *testing.T) {
	// The arbiter's epoch counter is behind this node's log (a fresh
	// arbiter): the win is refused, the lease revoked, the next campaign
	// gets a higher epoch.
	m := newN1(Position{Epoch: 5, LSN: 9})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{2}, acts(Campaign{}, PublishStatus{Candidate, 5}), Candidate},
		{CampaignResult{Won: true, Epoch: 5, Rev: 3}, acts(Resign{}, NewSession{}, PublishStatus{Standby, 5}), Standby},
		{SessionLost{lease1}, nil, Standby}, // revoked by the resign: expected
		{SessionUp{lease2, at(100)}, acts(Campaign{}, PublishStatus{Candidate, 5}), Candidate},
	})
}

func TestPromotionFailure(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{2}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{CampaignResult{Won: true, Epoch: 1, Rev: 3}, acts(Promote{1}, PublishStatus{Active, 1}), Active},
		{Promoted{Epoch: 1, Err: errors.New("disk")}, acts(Resign{}, NewSession{}, PublishStatus{Standby, 1}), Standby},
		{SessionUp{lease2, at(100)}, nil, Standby},
		{LeaderGone{4}, acts(PublishStatus{Candidate, 1}), Candidate},
		{Tick{at(10_000)}, nil, Candidate}, // broken: never campaigns
	})
}

func TestGracefulStop(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Stop{}, acts(CloseWrites{}, Resign{}), Stopped},
		{Tick{at(100)}, nil, Stopped},
		{LeaderGone{50}, nil, Stopped},
		{SessionUp{lease2, at(100)}, nil, Stopped},
	})
}

func TestStopWhileFollowing(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderObserved{n2Key(1), 3}, acts(Follow{n2Key(1)}, PublishStatus{Standby, 1}), Standby},
		{Stop{}, acts(StopFollow{}, Resign{}), Stopped},
	})
}

func TestStopWithoutSession(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{{Stop{}, nil, Stopped}})
}

func TestTimeNeverGoesBackwards(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(1400)}, nil, Active},
		{Tick{at(100)}, nil, Active},
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
	})
}

func TestRenewalOfOtherLeaseIgnored(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Renewed{77, at(1000)}, nil, Active},
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
	})
}

func TestSecondSessionWhileFenced(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(1500)}, acts(CloseWrites{}, PublishStatus{Fenced, 1}), Fenced},
		{SessionUp{lease2, at(1600)}, acts(PublishStatus{Standby, 1}), Standby},
	})
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig("n1").Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	d := DefaultConfig("n1")
	if d.LeaseTTL != 2*time.Second || d.RenewInterval != 500*time.Millisecond || d.FenceMargin != 500*time.Millisecond || d.StandAsideTimeout != 2*time.Second {
		t.Fatalf("defaults %+v", d)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.NodeID = "" }, "NodeID"},
		{func(c *Config) { c.NodeID = "a/b" }, "NodeID"},
		{func(c *Config) { c.LeaseTTL = 500 * time.Millisecond }, "LeaseTTL = 500ms"},
		{func(c *Config) { c.LeaseTTL = 2500 * time.Millisecond }, "LeaseTTL = 2.5s"},
		{func(c *Config) { c.FenceMargin = 0 }, "FenceMargin = 0s"},
		{func(c *Config) { c.FenceMargin = -time.Second }, "FenceMargin = -1s"},
		{func(c *Config) { c.FenceMargin = 2 * time.Second }, "FenceMargin = 2s"},
		{func(c *Config) { c.RenewInterval = 0 }, "RenewInterval = 0s"},
		{func(c *Config) { c.RenewInterval = 1500 * time.Millisecond }, "RenewInterval (1.5s) + FenceMargin (500ms)"},
		{func(c *Config) { c.StandAsideTimeout = -1 }, "StandAsideTimeout"},
	} {
		c := DefaultConfig("n1")
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want one naming %q", c, err, tc.want)
		}
	}
	if d.Deadline(t0) != t0.Add(1500*time.Millisecond) {
		t.Fatal("deadline")
	}
}

// A standby that may be promoted ends a dead leader's lease early, once
// per lease; nobody else does.
func TestLeaderPeerRefusedEndsLeaseEarly(t *testing.T) {
	following := func(cfg Config, eligible bool) *Machine {
		m := New(cfg, Self{Addr: "a1", PeerAddr: "p1", Position: Position{1, 50}})
		runScript(t, m, []step{
			{Tick{at(0)}, nil, Standby},
			{SessionUp{lease1, at(0)}, nil, Standby},
			{MembersObserved{[]Member{{NodeID: "n1", Position: Position{1, 50}, Eligible: eligible}}, 7}, nil, Standby},
			{LeaderObserved{n2Key(2), 7}, acts(Follow{n2Key(2)}, PublishStatus{Standby, 2}), Standby},
		})
		return m
	}
	on := testConfig("n1")
	on.EndDeadLeaderLease = true

	m := following(on, true)
	runScript(t, m, []step{
		// Another lease than the leader's: an old leader's refusal.
		{LeaderPeerRefused{LeaseID: 555}, nil, Standby},
		{LeaderPeerRefused{LeaseID: 902}, acts(EndLeaderLease{LeaseID: 902}), Standby},
		// Asked once per lease.
		{LeaderPeerRefused{LeaseID: 902}, nil, Standby},
		// The key vanishes (lease revoked): the usual campaign follows.
		{LeaderGone{9}, acts(StopFollow{}, Campaign{}, PublishStatus{Candidate, 2}), Candidate},
		// A candidate has no leader to end.
		{LeaderPeerRefused{LeaseID: 902}, nil, Candidate},
	})

	// Not in the sync set (ineligible): it could not win, so it must not
	// end the lease (a degraded active would lose its lead for nothing).
	runScript(t, following(on, false), []step{{LeaderPeerRefused{LeaseID: 902}, nil, Standby}})
	// Turned off (async mode).
	runScript(t, following(testConfig("n1"), true), []step{{LeaderPeerRefused{LeaseID: 902}, nil, Standby}})
	// Arbiter unreachable: no lease to end from here (and no session proof).
	m = following(on, true)
	runScript(t, m, []step{
		{ArbiterUnreachable{}, nil, Standby},
		{LeaderPeerRefused{LeaseID: 902}, nil, Standby},
	})
	// The active itself never acts on it.
	a := activeN1(t)
	a.cfg.EndDeadLeaderLease = true
	runScript(t, a, []step{{LeaderPeerRefused{LeaseID: lease1}, nil, Active}})
}

// TestEngineFailedActiveResigns (window 8): an active whose engine failed
// closes writes first, resigns (revoking the lease drops its leader key),
// takes a new session to publish itself as broken, and never campaigns
// or takes the lead again, whatever it observes, until restarted.
func TestEngineFailedActiveResigns(t *testing.T) {
	m := activeN1(t)
	runScript(t, m, []step{
		{Tick{at(100)}, nil, Active},
		{EngineFailed{"wal: write: no space left on device"},
			acts(CloseWrites{}, Resign{}, NewSession{}, PublishStatus{Broken, 1}), Broken},
		{EngineFailed{"again"}, nil, Broken},
		{SessionLost{lease1}, nil, Broken}, // revoked by the resign: expected
		{SessionUp{lease2, at(200)}, nil, Broken},
		{LeaderGone{10}, nil, Broken},
		{MembersObserved{[]Member{{NodeID: "n1", Position: Position{1, 99}, Eligible: true}}, 11}, nil, Broken},
		{Tick{at(10_000)}, nil, Broken}, // never campaigns
		{Renewed{lease2, at(9_000)}, nil, Broken},
		// Its own key on its live session (cannot happen: it never
		// campaigns) would not make it take the lead either.
		{LeaderObserved{LeaderInfo{NodeID: "n1", Epoch: 2, LeaseID: lease2}, 12}, acts(PublishStatus{Broken, 2}), Broken},
		{Tick{at(20_000)}, nil, Broken},
		{LeaderObserved{n2Key(3), 13}, acts(PublishStatus{Broken, 3}), Broken}, // nor follow
		{SessionLost{lease2}, acts(NewSession{}), Broken},
		{Stop{}, nil, Stopped},
	})
	if st := m.Status(); st.Broken != "wal: write: no space left on device" || st.WritesOpen {
		t.Fatalf("status %+v", st)
	}
}

// TestEngineFailedStandbyStopsFollowing: a standby whose engine failed
// (e.g. its WAL could not take a replicated record) stops following,
// drops its session for a new one (its member key shows broken) and
// never campaigns when the leader goes.
func TestEngineFailedStandbyStopsFollowing(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderObserved{n2Key(1), 3}, acts(Follow{n2Key(1)}, PublishStatus{Standby, 1}), Standby},
		{EngineFailed{"wal: fsync: input/output error"}, acts(StopFollow{}, Resign{}, NewSession{}, PublishStatus{Broken, 1}), Broken},
		{SessionUp{lease2, at(100)}, nil, Broken},
		{LeaderGone{5}, nil, Broken},
		{Tick{at(10_000)}, nil, Broken},
	})
}

// TestEngineFailedWithoutSession: broken before any session: no resign,
// no extra session request (one is on its way already).
func TestEngineFailedWithoutSession(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{EngineFailed{"x"}, acts(PublishStatus{Broken, 0}), Broken},
		{SessionUp{lease1, at(0)}, nil, Broken},
		{LeaderGone{2}, nil, Broken},
		{Tick{at(10_000)}, nil, Broken},
	})
}

// TestEngineFailedCandidateCampaigning: a failure while a campaign is in
// flight resigns its session; a win reported afterwards is ignored (the
// key was on the revoked lease).
func TestEngineFailedCandidateCampaigning(t *testing.T) {
	m := newN1(Position{})
	runScript(t, m, []step{
		{Tick{at(0)}, nil, Standby},
		{SessionUp{lease1, at(0)}, nil, Standby},
		{LeaderGone{2}, acts(Campaign{}, PublishStatus{Candidate, 0}), Candidate},
		{EngineFailed{"x"}, acts(Resign{}, NewSession{}, PublishStatus{Broken, 0}), Broken},
		{CampaignResult{Won: true, Epoch: 1, Rev: 3}, nil, Broken},
		{SessionUp{lease2, at(100)}, nil, Broken},
		{Tick{at(10_000)}, nil, Broken},
	})
}
