package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Fault kinds.
const (
	KillActive              = "kill-active"               // SIGKILL the active, restart it after Hold
	KillStandby             = "kill-standby"              // SIGKILL a standby, restart it after Hold
	KillArbiter             = "kill-arbiter"              // SIGKILL an arbiter member, restart it after Hold
	PauseActive             = "pause-active"              // SIGSTOP the active for Hold (> lease TTL), then SIGCONT: the zombie active
	PartitionActiveArbiter  = "partition-active-arbiter"  // cut the active's links to every arbiter member
	PartitionActiveStandbys = "partition-active-standbys" // cut the standbys' links to the active's peer port
	PartitionStandbyArbiter = "partition-standby-arbiter" // cut one standby's links to the arbiter
	RestartAll              = "restart-all"               // SIGKILL every node, restart them all after Hold
	IsolateActive           = "isolate-active"            // cut the active from the arbiter and the standbys at once

	// Proxy and client links (relays c>proxyN, client>nX, proxyN>aK).
	PartitionClientProxy   = "partition-client-proxy"   // cut the clients' link to one proxy
	PartitionProxyActive   = "partition-proxy-active"   // cut one proxy's link to the active (the other proxy's and the direct clients' stay)
	PartitionStandbyActive = "partition-standby-active" // cut one standby's replication link to the active (the other standby's stays)
	PartitionActiveClients = "partition-active-clients" // cut every link into the active's client port (proxies and direct clients)
	ProxyStaleRoute        = "proxy-stale-route"        // cut one proxy from the arbiter, then SIGKILL the active: the proxy's route goes stale
	// Ambiguous arbiter transactions (failpoint arbiter/txn-ambiguous).
	AmbiguousTxnActive   = "ambiguous-txn-active"   // arm it on the active and SIGKILL a standby: member and sync-set writes come back ambiguous
	AmbiguousTxnFailover = "ambiguous-txn-failover" // arm it on every standby and SIGKILL the active: the campaigns come back ambiguous
	// Storage faults on a standby.
	FsyncErrorStandby = "fsync-error-standby" // arm wal/fsync on a standby (its WAL fails); heal: SIGKILL and restart it
	PowerLossStandby  = "power-loss-standby"  // SIGKILL a standby and cut its WAL after the last really fsynced LSN (wal/synced-mark), restart it after Hold
	// VM-suspend-like freezes.
	PauseStandby    = "pause-standby"     // SIGSTOP a standby for Hold (> lease TTL), then SIGCONT
	PauseArbiter    = "pause-arbiter"     // SIGSTOP an arbiter member for Hold, then SIGCONT
	ClockJumpActive = "clock-jump-active" // arm node/clock-jump on the active, SIGSTOP it for Hold (> lease TTL), SIGCONT
)

// BaseFaults are the original kinds: process kills and pauses of the
// active, and partitions of the nodes' arbiter and replication links.
var BaseFaults = []string{KillActive, KillStandby, KillArbiter, PauseActive,
	PartitionActiveArbiter, PartitionActiveStandbys, PartitionStandbyArbiter, RestartAll, IsolateActive}

// ExtraFaults are the kinds added for the HA safety issue: proxy-link
// faults, ambiguous arbiter transactions, fsync errors and power loss on a
// standby, and VM-suspend-like freezes of a standby, an arbiter member and
// (with a clock jump) the active.
var ExtraFaults = []string{PartitionClientProxy, PartitionActiveClients, ProxyStaleRoute,
	AmbiguousTxnActive, AmbiguousTxnFailover, FsyncErrorStandby, PowerLossStandby,
	PauseStandby, PauseArbiter, ClockJumpActive, PartitionProxyActive, PartitionStandbyActive}

// AllFaults lists every fault kind (the default of Config.Faults).
var AllFaults = append(slices.Clone(BaseFaults), ExtraFaults...)

// FailoverFaults are the faults that make a standby take over from a
// live active (the ones that can lose writes in async mode; isolating the
// active is the one that loses them most surely: it keeps acknowledging
// locally while no standby hears from it).
var FailoverFaults = []string{KillActive, PauseActive, PartitionActiveArbiter, IsolateActive}

// newEpochFaults are the kinds after which the group must have a new
// epoch: the active was SIGKILLed, its lease died with it.
var newEpochFaults = []string{KillActive, RestartAll, ProxyStaleRoute, AmbiguousTxnFailover}

// ValidFault reports whether kind is a fault kind.
func ValidFault(kind string) bool {
	for _, k := range AllFaults {
		if k == kind {
			return true
		}
	}
	return false
}

// Fault is one scheduled fault: wait Quiet, inject Kind, keep it Hold,
// heal it. Pick chooses among candidates (which standby, which arbiter
// member) by index modulo their number.
type Fault struct {
	Kind  string        `json:"kind"`
	Quiet time.Duration `json:"quiet"`
	Hold  time.Duration `json:"hold"`
	Pick  int           `json:"pick"`
	// Also is a second fault injected Also.Quiet into this one's hold and
	// healed just before it (Nemesis.Overlap); nil for none.
	Also *Fault `json:"also,omitempty"`
}

// overlapKinds are the faults that may come on top of another.
var overlapKinds = []string{KillStandby, PartitionStandbyArbiter, KillArbiter}

func (f Fault) String() string {
	s := fmt.Sprintf("%s (hold %v, pick %d, after %v)", f.Kind, f.Hold.Round(time.Millisecond), f.Pick, f.Quiet.Round(time.Millisecond))
	if f.Also != nil {
		s += fmt.Sprintf(" with %s %v in (pick %d)", f.Also.Kind, f.Also.Quiet.Round(time.Millisecond), f.Also.Pick)
	}
	return s
}

// Nemesis draws faults from a seeded random source: the same seed, kinds
// and lease TTL give the same schedule.
type Nemesis struct {
	// Overlap: about one fault in three gets a second one (Fault.Also).
	Overlap bool

	rng   *rand.Rand
	kinds []string
	ttl   time.Duration
	queue []string
}

// NewNemesis returns a nemesis over kinds (AllFaults if empty) for a lease
// TTL of ttl.
func NewNemesis(seed int64, kinds []string, ttl time.Duration) *Nemesis {
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	return &Nemesis{rng: rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)), kinds: append([]string(nil), kinds...), ttl: ttl}
}

// Next returns the next fault. Faults come in rounds: every kind once per
// round, in a random order, so any run of len(kinds) faults from the start
// holds each kind exactly once.
func (n *Nemesis) Next() Fault {
	if len(n.queue) == 0 {
		n.queue = append([]string(nil), n.kinds...)
		n.rng.Shuffle(len(n.queue), func(i, j int) { n.queue[i], n.queue[j] = n.queue[j], n.queue[i] })
	}
	kind := n.queue[0]
	n.queue = n.queue[1:]
	f := Fault{Kind: kind, Quiet: n.between(500*time.Millisecond, 1500*time.Millisecond), Pick: n.rng.IntN(1 << 16)}
	switch kind {
	case KillActive, KillStandby, KillArbiter, PowerLossStandby:
		f.Hold = n.between(300*time.Millisecond, 3*time.Second)
	case RestartAll:
		f.Hold = n.between(0, time.Second)
	case PauseActive, PartitionActiveArbiter, IsolateActive, PauseStandby, ClockJumpActive:
		// Longer than the lease TTL: the arbiter lets the lease expire and
		// another node takes over while this one is frozen or cut off —
		// or, just past the TTL, the old active comes back while the
		// arbiter is expiring its lease or the election is under way.
		f.Hold = n.ttl + n.between(100*time.Millisecond, 3*time.Second)
	case PartitionClientProxy, PartitionProxyActive, PartitionActiveClients:
		// Past the clients' call timeout (4s) about half the time: calls
		// give up while their bytes are held, and reach the proxy or the
		// active after the heal — an indeterminate write landing late.
		f.Hold = n.between(2*time.Second, 7*time.Second)
	case PauseArbiter:
		// Around the arbiter's election timeout and the lease TTL: a
		// frozen etcd leader holds up every write until the others elect
		// a new one; a frozen follower comes back behind.
		f.Hold = n.between(500*time.Millisecond, n.ttl+2*time.Second)
	default:
		f.Hold = n.ttl + n.between(0, 2500*time.Millisecond)
	}
	if n.Overlap {
		// Drawn whether used or not: the same number of draws per fault.
		k, q, p, use := overlapKinds[n.rng.IntN(len(overlapKinds))], n.rng.Float64(), n.rng.IntN(1<<16), n.rng.IntN(3) == 0
		if use && f.Kind != RestartAll {
			f.Also = &Fault{Kind: k, Quiet: time.Duration(q * float64(f.Hold) / 2), Pick: p}
		}
	}
	return f
}

// Plan returns the first count faults of a nemesis.
func Plan(seed int64, kinds []string, ttl time.Duration, count int) []Fault {
	n := NewNemesis(seed, kinds, ttl)
	out := make([]Fault, count)
	for i := range out {
		out[i] = n.Next()
	}
	return out
}

func (n *Nemesis) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)))
}
