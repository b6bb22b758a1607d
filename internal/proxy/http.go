package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status is the proxy's view, served as JSON on /status.
type Status struct {
	Group string `json:"group"`
	// Active is the node requests are forwarded to; null when the group
	// has no active (requests are held).
	Active *ActiveStatus `json:"active"`
	// Switches counts changes of active (to another node or epoch) seen.
	Switches int64 `json:"switches"`
	// ArbiterSynced is false until the leader key was read once.
	ArbiterSynced bool     `json:"arbiter_synced"`
	Arbiter       []string `json:"arbiter"`
	Listen        string   `json:"listen"`
	HTTP          string   `json:"http"`
	HoldSeconds   float64  `json:"hold_seconds"`
	REST          bool     `json:"rest"`
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptime_seconds"`
}

// ActiveStatus is the current active.
type ActiveStatus struct {
	NodeID      string `json:"node_id"`
	Addr        string `json:"addr"`
	Epoch       uint64 `json:"epoch"`
	SinceUnixMs int64  `json:"since_unix_ms"` // when the proxy learnt of it
}

// Status returns the proxy's current view.
func (p *Proxy) Status() Status {
	v := p.watch.view()
	st := Status{
		Group: p.cfg.Group, Switches: v.Switches, ArbiterSynced: v.Synced, Arbiter: p.cfg.Arbiter,
		Listen: p.Addr(), HTTP: p.HTTPAddr(), HoldSeconds: p.cfg.Hold.Seconds(), REST: p.cfg.REST,
		Version: p.cfg.Version, UptimeSeconds: time.Since(p.started).Seconds(),
	}
	if v.Active != nil {
		st.Active = &ActiveStatus{NodeID: v.Active.NodeID, Addr: v.Active.Addr, Epoch: v.Active.Epoch, SinceUnixMs: v.Since.UnixMilli()}
	}
	return st
}

// sideMux serves /healthz, /metrics and /status.
func (p *Proxy) sideMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "OK")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(p.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Status())
	})
	return mux
}
