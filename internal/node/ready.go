package node

import (
	"fmt"
	"net/http"
	"strconv"
)

// DefaultReadyMaxLag is the largest replication lag, in records, at which
// /readyz calls a streaming standby ready to serve reads.
const DefaultReadyMaxLag = 1000

// Readiness is /readyz's verdict.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Role   string `json:"role"`
	Reason string `json:"reason"`
}

// Readiness says whether this node should receive traffic from a load
// balancer: the active when it acknowledges writes (in sync mode, once its
// sync set is written); with activeOnly false also a standby that streams
// from the active and is at most maxLag records behind the active's last
// published durable LSN (it serves reads; writes get an error naming the
// active).
func (n *Node) Readiness(activeOnly bool, maxLag uint64) Readiness {
	st := n.Status()
	r := Readiness{Role: st.Role}
	switch {
	case st.Role == "active" && st.WritesOpen:
		r.Ready, r.Reason = true, "active: writes open"
		if st.Deployment != nil && st.Deployment.Role != "" && st.Deployment.Role != "leading" {
			r.Reason = "active of an alternative deployment: reads only"
		}
	case st.Role == "active":
		r.Reason = "active, but writes are not open yet (promotion, sync set or fence)"
	case activeOnly:
		r.Reason = "not the active"
	case st.Role != "standby":
		r.Reason = "role " + st.Role
	case st.Replication == nil || st.Replication.Receiver != "streaming":
		recv := "off"
		if st.Replication != nil {
			recv = st.Replication.Receiver
		}
		r.Reason = "standby not streaming from the active (receiver " + recv + ")"
	default:
		var leaderLSN uint64
		for _, m := range st.Members {
			if st.Leader != nil && m.NodeID == st.Leader.NodeID {
				leaderLSN = m.DurableLSN
			}
		}
		lag := leaderLSN - min(leaderLSN, st.AppliedLSN)
		if lag > maxLag {
			r.Reason = fmt.Sprintf("standby %d records behind the active (more than %d)", lag, maxLag)
		} else {
			r.Ready, r.Reason = true, fmt.Sprintf("standby streaming, %d records behind the active", lag)
		}
	}
	return r
}

// serveReady is GET /readyz[?role=active][&max_lag=N]: 200 with the
// reason when ready, 503 otherwise (see Readiness).
func (n *Node) serveReady(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxLag := uint64(DefaultReadyMaxLag)
	if s := q.Get("max_lag"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("max_lag = %q: want a number of records", s), http.StatusBadRequest)
			return
		}
		maxLag = v
	}
	role := q.Get("role")
	if role != "" && role != "active" && role != "any" {
		http.Error(w, fmt.Sprintf("role = %q: want active or any", role), http.StatusBadRequest)
		return
	}
	rd := n.Readiness(role == "active", maxLag)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, rd.Reason)
}
