package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tandem-db/tandem/internal/arbiter"
)

// metrics are one proxy's Prometheus collectors, on its own registry (a
// test process may run several proxies).
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // method
	forwarded     *prometheus.CounterVec   // method: attempts sent to a node
	held          *prometheus.CounterVec   // method: requests that waited for an active
	holdSeconds   prometheus.Histogram     // time requests spent waiting
	retried       *prometheus.CounterVec   // method, reason (outcome)
	failed        *prometheus.CounterVec   // method, reason
	latency       *prometheus.HistogramVec // method
	active        *prometheus.GaugeVec     // node, addr: 1 for the current active
	activeEpoch   prometheus.Gauge
	hasActive     prometheus.Gauge
	switches      prometheus.Counter
	arbiterErrors prometheus.Counter
}

func newMetrics() *metrics {
	ns, sub := "tandem", "proxy"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Client requests received, by method (gRPC method name, \"rest\" for RESTful v2, \"other\" for non-Milvus services)."}, []string{"method"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "forwarded_total",
			Help: "Attempts forwarded to a node, by method (a retried request counts once per attempt)."}, []string{"method"}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "held_total",
			Help: "Requests that had to wait for an active (none known, or a retry pause), by method."}, []string{"method"}),
		holdSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "hold_duration_seconds",
			Help: "Time held requests spent waiting for an active, in seconds.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retried_total",
			Help: "Attempts retried by the proxy, by method and the outcome that caused it (not_connected, refused, not_acknowledged, broken)."}, []string{"method", "reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "failed_total",
			Help: "Requests the proxy failed itself, by method and reason (no_active, broken: may have been applied, not retried; shutdown)."}, []string{"method", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help: "Client request latency through the proxy, in seconds.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18)}, []string{"method"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active",
			Help: "1 for the group's current active as the proxy sees it (labels node, addr); absent when there is none."}, []string{"node", "addr"}),
		activeEpoch: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active_epoch",
			Help: "Epoch of the current active (0 when there is none)."}),
		hasActive: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "has_active",
			Help: "1 while the proxy knows an active to forward to."}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "active_switches_total",
			Help: "Times the active changed to another node or epoch."}),
		arbiterErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "arbiter_errors_total",
			Help: "Failed reads and interrupted watches of the leader key."}),
	}
	m.reg.MustRegister(m.requests, m.forwarded, m.held, m.holdSeconds, m.retried, m.failed, m.latency,
		m.active, m.activeEpoch, m.hasActive, m.switches, m.arbiterErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// setActive moves the active gauge from prev to cur.
func (m *metrics) setActive(prev, cur *arbiter.Leader) {
	if prev != nil {
		m.active.DeleteLabelValues(prev.NodeID, prev.Addr)
	}
	if cur == nil {
		m.hasActive.Set(0)
		m.activeEpoch.Set(0)
		return
	}
	m.active.WithLabelValues(cur.NodeID, cur.Addr).Set(1)
	m.hasActive.Set(1)
	m.activeEpoch.Set(float64(cur.Epoch))
}

// methodLabel bounds the method label to the MilvusService methods.
func methodLabel(fullMethod string) string {
	if mi := methods[fullMethod]; mi != nil {
		return mi.name
	}
	return "other"
}
