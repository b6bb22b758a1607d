package coord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/metrics"
)

// Handler serves a coordinator's HTTP side port:
//
//	GET  /healthz              200 "ok" while the process runs
//	GET  /status               JSON: this coordinator (id, cluster, roles held with their fence
//	                           revision and since when) and the cluster's Report
//	GET  /metrics              Prometheus metrics (tandem_coord_role_active, ..._role_changes_total)
//	POST /v1/alloc/ids?count=N JSON {"first":F,"count":N}: N consecutive ids (root's active only)
//	GET  /v1/alloc/ts          JSON {"ts":T}: a hybrid timestamp (root's active only)
//	POST /v1/ddl               JSON Intent in, {"status": commonpb.Status (proto, base64)} out
//	                           (root's active only): records and applies a DDL request
//
// The allocation endpoints answer 503 with {"error", "active"} on a
// coordinator that does not hold the root role (active names the holder).
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		type held struct {
			FenceRev   int64 `json:"fence_rev"`
			SinceUnixM int64 `json:"since_unix_ms"`
		}
		out := struct {
			ID      string          `json:"id"`
			Cluster string          `json:"cluster"`
			Holds   map[string]held `json:"holds"`
			Status  *Report         `json:"status,omitempty"`
			Error   string          `json:"error,omitempty"`
		}{ID: c.cfg.ID, Cluster: c.cfg.Cluster, Holds: map[string]held{}}
		for role, l := range c.Leads() {
			out.Holds[role] = held{l.Fence.Rev, l.Since.UnixMilli()}
		}
		rep, err := ReadStatus(ctx, c.cli, c.cfg.Cluster)
		if err != nil {
			out.Error = err.Error()
		}
		out.Status = rep
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /v1/alloc/ids", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("count"), 10, 64)
		if err != nil || n < 1 || n > 1<<20 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "count must be an integer in [1, 1048576]"})
			return
		}
		a, err := c.Allocator()
		if err == nil {
			var first int64
			if first, err = a.IDs(r.Context(), n); err == nil {
				writeJSON(w, http.StatusOK, map[string]int64{"first": first, "count": n})
				return
			}
		}
		c.notActive(w, r, err)
	})
	mux.HandleFunc("GET /v1/alloc/ts", func(w http.ResponseWriter, r *http.Request) {
		a, err := c.Allocator()
		if err == nil {
			var ts uint64
			if ts, err = a.Timestamp(r.Context()); err == nil {
				writeJSON(w, http.StatusOK, map[string]uint64{"ts": ts})
				return
			}
		}
		c.notActive(w, r, err)
	})
	mux.HandleFunc("POST /v1/ddl", func(w http.ResponseWriter, r *http.Request) {
		var in Intent
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed DDL request: " + err.Error()})
			return
		}
		st, err := c.ExecuteDDL(r.Context(), in)
		if err != nil {
			// Not the root, fenced, or a group unreachable: the intent (if
			// recorded) stays pending; the caller retries with the same id.
			c.notActive(w, r, err)
			return
		}
		b, _ := proto.Marshal(st)
		writeJSON(w, http.StatusOK, map[string][]byte{"status": b})
	})
	return mux
}

func (c *Coordinator) notActive(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusServiceUnavailable
	if !errors.Is(err, ErrNotActive) && !errors.Is(err, ErrFenced) {
		code = http.StatusBadGateway // outcome unknown; retry with the same request
	}
	out := map[string]string{"error": err.Error()}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if rep, rerr := ReadStatus(ctx, c.cli, c.cfg.Cluster); rerr == nil {
		for _, rr := range rep.Roles {
			if rr.Role == RoleRoot {
				out["active"] = rr.Active
			}
		}
	}
	writeJSON(w, code, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
