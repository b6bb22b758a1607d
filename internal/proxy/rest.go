package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"time"
)

// restHandler forwards RESTful v2 (HTTP/1.x) requests on the client port
// to the active's client port, where the node serves REST beside gRPC.
// The body is buffered (bounded by MaxMsgBytes) so that an attempt that
// could not connect can be sent again; a request that reached a node is
// never re-sent, and REST refusals from a node are passed on as they are.
func (p *Proxy) restHandler() http.Handler {
	scheme := "http"
	base := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	if p.backendTLS != nil {
		scheme = "https"
		c := p.backendTLS.Clone()
		c.NextProtos = []string{"http/1.1"} // the node's REST handler is HTTP/1.1
		base.TLSClientConfig = c
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = scheme
			r.Out.URL.Host = "active" // set per attempt by restTransport
			r.SetXForwarded()
		},
		Transport:    &restTransport{p: p, base: base},
		ErrorHandler: p.restError,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.m.requests.WithLabelValues("rest").Inc()
		start := time.Now()
		defer func() { p.m.latency.WithLabelValues("rest").Observe(time.Since(start).Seconds()) }()
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(p.cfg.MaxMsgBytes)))
			if err != nil {
				writeRESTError(w, http.StatusRequestEntityTooLarge, 1102, fmt.Sprintf("proxy: read request body: %v", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			r.ContentLength = int64(len(b))
		}
		r = r.WithContext(context.WithValue(r.Context(), restStartKey{}, start))
		rp.ServeHTTP(w, r)
	})
}

type restStartKey struct{}

// restTransport sends a REST request to the current active, waiting for
// one (within the hold deadline) and retrying attempts that could not
// connect.
type restTransport struct {
	p    *Proxy
	base *http.Transport
}

// restNotSent: every attempt failed before reaching a node.
type restNotSent struct{ err error }

func (e *restNotSent) Error() string { return e.err.Error() }
func (e *restNotSent) Unwrap() error { return e.err }

func (t *restTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.p
	ctx := req.Context()
	start, ok := ctx.Value(restStartKey{}).(time.Time)
	if !ok {
		start = time.Now()
	}
	until := p.holdDeadline(ctx, start)
	h := &holdTimer{p: p, label: "rest"}
	defer h.done()
	for retries := 0; ; {
		l, err := p.awaitActive(ctx, until, h)
		if err != nil {
			if errors.Is(err, errNoActive) {
				return nil, &restNotSent{fmt.Errorf("proxy: no active in group %s: held for %v", p.cfg.Group, time.Since(start).Round(time.Millisecond))}
			}
			return nil, &restNotSent{err}
		}
		out := req.Clone(ctx)
		out.URL.Host, out.Host = l.Addr, l.Addr
		if req.GetBody != nil {
			if out.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		p.m.forwarded.WithLabelValues("rest").Inc()
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || ctx.Err() != nil {
			return nil, fmt.Errorf("proxy: forward to the active %s at %s: %w", l.NodeID, l.Addr, err)
		}
		_, changed := p.watch.get()
		now := time.Now()
		if !now.Before(until) {
			return nil, &restNotSent{fmt.Errorf("proxy: no active in group %s: held for %v (last: cannot connect to %s at %s: %v)",
				p.cfg.Group, now.Sub(start).Round(time.Millisecond), l.NodeID, l.Addr, err)}
		}
		retries++
		p.m.retried.WithLabelValues("rest", outcomeNotSent.String()).Inc()
		if err := h.wait(ctx, changed, min(until.Sub(now), backoff(p.cfg.RetryBackoff, p.cfg.MaxRetryBackoff, retries))); err != nil {
			return nil, &restNotSent{err}
		}
	}
}

// restError answers a REST request the proxy could not forward, in the
// Milvus RESTful envelope: code 2 (service unavailable, retryable) when
// nothing reached a node, 65535 otherwise.
func (p *Proxy) restError(w http.ResponseWriter, r *http.Request, err error) {
	var ns *restNotSent
	if errors.As(err, &ns) {
		p.m.failed.WithLabelValues("rest", "no_active").Inc()
		writeRESTError(w, http.StatusServiceUnavailable, codeServiceUnavailable, err.Error()+"; nothing was applied, retry later")
		return
	}
	p.m.failed.WithLabelValues("rest", "broken").Inc()
	writeRESTError(w, http.StatusBadGateway, 65535, err.Error()+" (the request may have been applied; the proxy did not retry it)")
}

func writeRESTError(w http.ResponseWriter, httpCode int, code int32, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
}
