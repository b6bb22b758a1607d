// Package metrics holds Tandem's Prometheus collectors, registered on one
// registry that the HTTP endpoint /metrics serves.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the registry /metrics serves.
var Registry = prometheus.NewRegistry()

var (
	// Requests counts client requests by API method (e.g. "Search",
	// "rest:/v2/vectordb/entities/search") and Milvus status code.
	Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Name: "requests_total",
		Help: "Client requests by method and Milvus status code.",
	}, []string{"method", "code"})
	// RequestSeconds is the latency of client requests by method, in seconds.
	RequestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "tandem", Name: "request_duration_seconds",
		Help:    "Client request latency by method, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"method"})
	// RowsWritten counts rows inserted/upserted/deleted by kind.
	RowsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Name: "rows_written_total",
		Help: "Rows written by kind (insert, upsert, delete).",
	}, []string{"kind"})
	// WALFsyncSeconds is the latency of WAL fsyncs, in seconds.
	WALFsyncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "tandem", Name: "wal_fsync_duration_seconds",
		Help:    "WAL fsync latency in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
	})
	// CoordRoleActive is 1 for each coordinator role this process holds
	// now (tandem coord), 0 otherwise.
	CoordRoleActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tandem", Name: "coord_role_active",
		Help: "1 if this coordinator holds the role now, else 0.",
	}, []string{"role"})
	// CoordRoleChanges counts role changes of this coordinator by role and
	// change (acquired, dropped).
	CoordRoleChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tandem", Name: "coord_role_changes_total",
		Help: "Coordinator role changes by role and change (acquired, dropped).",
	}, []string{"role", "change"})
)

func init() {
	Registry.MustRegister(Requests, RequestSeconds, RowsWritten, WALFsyncSeconds, CoordRoleActive, CoordRoleChanges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
