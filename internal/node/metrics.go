package node

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/ha"
	"github.com/tandem-db/tandem/internal/metrics"
)

// HA metrics, labelled by node id (tests run several nodes in a process).
var (
	haRole = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "role",
		Help: "1 for the node's current HA role (label role), 0 for the others.",
	}, []string{"node", "role"})
	haEpoch = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "epoch",
		Help: "Highest epoch the node knows of (its own while active).",
	}, []string{"node"})
	haWritesOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "writes_open",
		Help: "1 while the node acknowledges client writes.",
	}, []string{"node"})
	haRenewSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "lease_renew_duration_seconds",
		Help:    "Latency of acknowledged lease renewals (keep-alive round trips), in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
	}, []string{"node"})
	haRenewFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "lease_renew_failures_total",
		Help: "Lease renewals that failed or timed out.",
	}, []string{"node"})
	haElections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "elections_total",
		Help: "Campaigns by outcome (won, lost, error).",
	}, []string{"node", "result"})
	haLeaseEnds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "dead_active_lease_ends_total",
		Help: "Leases of an active whose peer port refused connections that this standby asked the arbiter to end early, by outcome (ended, gone, error).",
	}, []string{"node", "result"})
	haPromotions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "promotions_total",
		Help: "Promotions to active completed (epoch-start record durable): failovers and first elections.",
	}, []string{"node"})
	haFences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "ha", Name: "fences_total",
		Help: "Times an active self-fenced because its write deadline passed.",
	}, []string{"node"})
	syncAckFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "sync_ack_failures_total",
		Help: "Sync mode: client writes not acknowledged because too few standbys had them durable before the request's deadline.",
	}, []string{"node"})
	standbyLagLSN = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "standby_lag_records",
		Help: "On the active: records applied here that a connected standby does not have durable yet.",
	}, []string{"node", "standby"})
	standbyLagSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "standby_lag_seconds",
		Help: "On the active: how long ago the oldest record a connected standby lacks was applied here (grows while its stream stalls).",
	}, []string{"node", "standby"})
	syncSetChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "sync_set_changes_total",
		Help: "Sync mode: standbys that joined or were dropped from the arbiter's sync set, or became uncertain (proposed by a write of the set whose outcome is unknown) (change = join, drop, uncertain).",
	}, []string{"node", "change"})
	engineBroken = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "engine", Name: "broken",
		Help: "1 once the storage engine failed for good (sticky WAL error, e.g. disk full): the node resigned and refuses clients until restarted.",
	}, []string{"node"})
	syncDegraded = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "sync_degraded",
		Help: "Sync mode, degrade policy: 1 while writes are acknowledged without enough standbys in the sync set.",
	}, []string{"node"})
	syncWaitingWrites = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Subsystem: "replication", Name: "sync_waiting_writes",
		Help: "Sync mode: client writes waiting right now because fewer than --min-sync-standbys standbys are in the sync set.",
	}, []string{"node"})
)

var registerOnce sync.Once

func registerMetrics() {
	registerOnce.Do(func() {
		metrics.Registry.MustRegister(haRole, haEpoch, haWritesOpen, haRenewSeconds, haRenewFailures,
			haElections, haLeaseEnds, haPromotions, haFences, engineBroken, syncAckFailures, syncSetChanges, syncDegraded, syncWaitingWrites, standbyLagLSN, standbyLagSeconds)
		registerEngineGauges()
	})
}

// allRoles lists every role (metrics, parsing).
var allRoles = []ha.Role{ha.Standby, ha.Candidate, ha.Active, ha.Fenced, ha.Stopped, ha.Broken}

// setRoleMetric sets the role gauges of node.
func setRoleMetric(node string, r ha.Role) {
	for _, x := range allRoles {
		v := 0.0
		if x == r {
			v = 1
		}
		haRole.WithLabelValues(node, x.String()).Set(v)
	}
}

type engineHolder struct {
	mu  sync.Mutex
	eng *engine.Engine
}

func (h *engineHolder) Store(e *engine.Engine) { h.mu.Lock(); h.eng = e; h.mu.Unlock() }
func (h *engineHolder) stats() engine.EngineStats {
	h.mu.Lock()
	e := h.eng
	h.mu.Unlock()
	if e == nil {
		return engine.EngineStats{}
	}
	return e.Stats()
}

// currentEngine feeds the process-wide engine gauges (one engine per
// process in production; tests may start several, the last one wins).
var currentEngine engineHolder

func registerEngineGauges() {
	g := func(name, help string, f func(engine.EngineStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tandem", Name: name, Help: help},
			func() float64 { return f(currentEngine.stats()) })
	}
	metrics.Registry.MustRegister(
		g("collections", "Collections in the catalog.", func(s engine.EngineStats) float64 { return float64(s.Collections) }),
		g("rows", "Visible live rows over all collections.", func(s engine.EngineStats) float64 { return float64(s.Rows) }),
		g("segments_growing", "Growing (in-memory) segments.", func(s engine.EngineStats) float64 { return float64(s.GrowingSegs) }),
		g("segments_sealed", "Sealed segments.", func(s engine.EngineStats) float64 { return float64(s.SealedSegs) }),
		g("wal_applied_lsn", "Last applied WAL LSN.", func(s engine.EngineStats) float64 { return float64(s.AppliedLSN) }),
		g("wal_durable_lsn", "Last durable WAL LSN.", func(s engine.EngineStats) float64 { return float64(s.DurableLSN) }),
		g("checkpoint_lsn", "LSN covered by the last checkpoint.", func(s engine.EngineStats) float64 { return float64(s.CheckpointLSN) }),
		g("wal_bytes", "WAL bytes on disk.", func(s engine.EngineStats) float64 { return float64(s.WALBytes) }),
		g("disk_free_bytes", "Bytes available on the data dir's file system at the last check (-1: not checked, or --min-free-disk off).", func(s engine.EngineStats) float64 { return float64(s.Disk.FreeBytes) }),
		g("disk_low", "1 while the data dir's free space is below --min-free-disk: new writes are refused.", func(s engine.EngineStats) float64 {
			if s.Disk.Low {
				return 1
			}
			return 0
		}),
	)
}
