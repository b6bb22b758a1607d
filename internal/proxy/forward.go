package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/failpoint"
)

// errNoActive and errShutdown end a hold.
var (
	errNoActive = errors.New("no active")
	errShutdown = errors.New("proxy: shutting down")
)

// handle is the server's grpc.UnknownServiceHandler: no service is
// registered, so every RPC arrives here with its messages as raw frames.
func (p *Proxy) handle(_ any, ss grpc.ServerStream) error {
	full, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "proxy: no method name in stream")
	}
	label := methodLabel(full)
	p.m.requests.WithLabelValues(label).Inc()
	start := time.Now()
	defer func() { p.m.latency.WithLabelValues(label).Observe(time.Since(start).Seconds()) }()
	mi := methods[full]
	if mi == nil || !mi.unary {
		return p.forwardStream(ss, full, label, start)
	}
	var req frame
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	return p.forwardUnary(ss, full, mi, &req, start)
}

// holdDeadline is when a request that arrived at start stops waiting: Hold
// later, or the client's deadline if that is earlier.
func (p *Proxy) holdDeadline(ctx context.Context, start time.Time) time.Time {
	until := start.Add(p.cfg.Hold)
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		until = dl
	}
	return until
}

// holdTimer accounts the time one request spends waiting.
type holdTimer struct {
	p      *Proxy
	label  string
	waited time.Duration
}

// wait pauses until changed is closed, d passes, ctx ends or the proxy
// closes. It returns ctx's error or errShutdown if those ended it.
func (h *holdTimer) wait(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	if h.waited == 0 {
		h.p.m.held.WithLabelValues(h.label).Inc()
	}
	t0 := time.Now()
	defer func() { h.waited += time.Since(t0) }()
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-h.p.closing:
		return errShutdown
	}
	return nil
}

func (h *holdTimer) done() {
	if h.waited > 0 {
		h.p.m.holdSeconds.Observe(h.waited.Seconds())
	}
}

// attempt is the result of forwarding a request once.
type attempt struct {
	outcome  outcome
	node     *arbiter.Leader
	resp     *frame
	hdr, trl metadata.MD
	err      error // a gRPC status error to return (outcomeDone), or the failure
	reason   string
}

// forwardUnary sends req to the active, retrying as the rule in retry.go
// allows until the hold deadline, and answers the client.
func (p *Proxy) forwardUnary(ss grpc.ServerStream, full string, mi *methodInfo, req *frame, start time.Time) error {
	ctx := ss.Context()
	until := p.holdDeadline(ctx, start)
	md := forwardMD(ctx)
	if mi.class == classDedup && len(md.Get(requestIDHeader)) == 0 {
		// One id per client call, the same on every attempt: the node
		// applies the write at most once. A client's own id is kept.
		md.Set(requestIDHeader, newRequestID())
	}
	out := metadata.NewOutgoingContext(ctx, md)
	h := &holdTimer{p: p, label: mi.name}
	defer h.done()
	retries := 0
	var last *arbiter.Leader // the active the retries count against
	ambiguous := false       // an attempt may have applied the request
	for {
		l, changed := p.watch.get()
		if l != nil && (last == nil || l.NodeID != last.NodeID || l.Epoch != last.Epoch) {
			// A new active: start its backoff afresh (a just-promoted node
			// refuses for a few ms until it serves).
			retries, last = 0, l
		}
		var a attempt
		if l == nil {
			a = attempt{outcome: outcomeNoActive}
		} else {
			a = p.invokeOnce(out, l, changed, full, mi, req)
		}
		if !retryable(mi.class, a.outcome) {
			return p.reply(ss, mi, a)
		}
		ambiguous = ambiguous || a.outcome == outcomeNotAcked || a.outcome == outcomeBroken
		now := time.Now()
		if !now.Before(until) {
			return p.giveUp(ss, ctx, mi, a, now.Sub(start), ambiguous)
		}
		pause := until.Sub(now)
		// proxy/before-retry: evaluated before the pause that precedes a
		// retry (a test pauses here to write in between two attempts).
		if err := failpoint.Inject("proxy/before-retry"); err != nil {
			return p.reply(ss, mi, a)
		}
		if a.outcome != outcomeNoActive {
			retries++
			p.m.retried.WithLabelValues(mi.name, a.outcome.String()).Inc()
			pause = min(pause, backoff(p.cfg.RetryBackoff, p.cfg.MaxRetryBackoff, retries))
			p.log.Debug("proxy: retrying", "method", mi.name, "retry", retries, "node", leaderID(a.node), "outcome", a.outcome.String(), "reason", a.reason)
		}
		if err := h.wait(ctx, changed, pause); err != nil {
			return p.giveUp(ss, ctx, mi, a, time.Since(start), ambiguous)
		}
	}
}

// errLeaderMoved is the cause of an attempt abandoned because the leader
// key moved away from its node.
var errLeaderMoved = errors.New("proxy: the active changed while the call was in flight")

// abandonOnLeaderChange cancels ctx with errLeaderMoved once the watched
// leader is no longer l (another node, another epoch, or none).
func abandonOnLeaderChange(ctx context.Context, cancel context.CancelCauseFunc, l *arbiter.Leader, w *leaderWatch, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		var cur *arbiter.Leader
		cur, changed = w.get()
		if cur == nil || cur.NodeID != l.NodeID || cur.Epoch != l.Epoch {
			cancel(errLeaderMoved)
			return
		}
	}
}

// invokeOnce forwards req to l and classifies what happened.
//
// The attempt is abandoned (its call canceled) when the leader key moves
// away from l while it runs: a frozen or cut-off old active would
// otherwise hold the request until the client's deadline. An abandoned
// call counts as broken: reads and writes with a request id are retried
// on the new active; other writes are answered "may have been applied".
func (p *Proxy) invokeOnce(ctx context.Context, l *arbiter.Leader, changed <-chan struct{}, full string, mi *methodInfo, req *frame) attempt {
	a := attempt{node: l}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go abandonOnLeaderChange(ctx, cancel, l, p.watch, changed)
	cc, release, err := p.backends.acquire(l.Addr)
	if err != nil {
		a.outcome, a.err, a.reason = outcomeNotSent, err, err.Error()
		return a
	}
	defer release()
	p.m.forwarded.WithLabelValues(mi.name).Inc()
	var resp frame
	var pr peer.Peer
	err = cc.Invoke(ctx, full, req, &resp, grpc.ForceCodecV2(rawCodec{}),
		grpc.Header(&a.hdr), grpc.Trailer(&a.trl), grpc.Peer(&pr))
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == errLeaderMoved {
			// Abandoned: the node stopped being the active meanwhile.
			a.outcome, a.err, a.reason = outcomeBroken, err, errLeaderMoved.Error()
			if pr.Addr == nil {
				a.outcome = outcomeNotSent
			}
			return a
		}
		if ctx.Err() != nil {
			// The client's deadline or cancellation: its own outcome.
			a.outcome, a.err = outcomeDone, status.FromContextError(ctx.Err()).Err()
			return a
		}
		st := status.Convert(err)
		a.err, a.reason = err, st.Message()
		sent := pr.Addr != nil // a stream to the node existed
		switch {
		case !sent && st.Code() == codes.Unavailable:
			a.outcome = outcomeNotSent
		case st.Code() == codes.Unavailable && isRefusal(codeServiceUnavailable, st.Message()):
			// The role gate answers methods without a status field this way.
			a.outcome = outcomeRefused
		case sent && brokenCode(st.Code()):
			a.outcome = outcomeBroken
		default:
			a.outcome = outcomeDone
		}
		return a
	}
	a.resp = &resp
	if mi.class == classDedup {
		// proxy/drop-reply: the node applied the write and answered, but
		// the answer is lost on the way back (as if the connection broke
		// after the node replied): the attempt counts as broken.
		if err := failpoint.Inject("proxy/drop-reply"); err != nil {
			a.outcome, a.err, a.reason, a.resp = outcomeBroken, err, err.Error(), nil
			return a
		}
	}
	if ws, found, derr := statusOf(resp.b, mi.statusField); derr == nil && found {
		switch {
		case isRefusal(ws.Code, ws.Reason):
			a.outcome, a.reason = outcomeRefused, ws.Reason
		case isNotAcked(ws.Code, ws.Reason):
			a.outcome, a.reason = outcomeNotAcked, ws.Reason
		}
	}
	return a
}

// brokenCode: gRPC codes with which a call that reached a node may end
// without the node's answer (connection lost, stream reset, server gone).
func brokenCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}

// reply answers the client with a: the node's response (with its header
// and trailer) or error, or, for a request that may have been applied and
// may not be retried, an error saying so.
func (p *Proxy) reply(ss grpc.ServerStream, mi *methodInfo, a attempt) error {
	if md := cleanMD(a.hdr); len(md) > 0 {
		ss.SetHeader(md)
	}
	if md := cleanMD(a.trl); len(md) > 0 {
		ss.SetTrailer(md)
	}
	if a.outcome == outcomeBroken {
		// Not Unavailable: the SDKs retry that code on their own, and
		// this request may have been applied.
		p.m.failed.WithLabelValues(mi.name, "broken").Inc()
		return status.Errorf(codes.Unknown,
			"proxy: %s was sent to the active %s at %s of group %s but the call failed before its answer (%s): it may have been applied, so the proxy did not retry it",
			mi.name, a.node.NodeID, a.node.Addr, p.cfg.Group, a.reason)
	}
	if a.err != nil {
		return a.err
	}
	return ss.SendMsg(a.resp)
}

// giveUp ends a request whose hold deadline passed (or whose client went
// away) while every attempt so far was safe to retry; ambiguous: one of
// them may have applied it (a write is then never answered Unavailable).
func (p *Proxy) giveUp(ss grpc.ServerStream, ctx context.Context, mi *methodInfo, a attempt, held time.Duration, ambiguous bool) error {
	if err := ctx.Err(); err != nil {
		p.m.failed.WithLabelValues(mi.name, "client_gone").Inc()
		return status.FromContextError(err).Err()
	}
	select {
	case <-p.closing:
		p.m.failed.WithLabelValues(mi.name, "shutdown").Inc()
		return status.Errorf(codes.Unavailable, "proxy: shutting down; %s not forwarded to group %s", mi.name, p.cfg.Group)
	default:
	}
	switch a.outcome {
	case outcomeNotAcked:
		// The node's own answer says what happened; pass it on.
		return p.reply(ss, mi, attempt{outcome: outcomeDone, resp: a.resp, hdr: a.hdr, trl: a.trl})
	}
	if ambiguous && mi.class != classRead {
		// A write that may have been applied: not Unavailable, which the
		// SDKs retry on their own as a new call (with a new request id).
		p.m.failed.WithLabelValues(mi.name, "broken").Inc()
		return status.Errorf(codes.Unknown, "proxy: %s was sent to the active of group %s but no attempt was answered within %v (last: %s): it may have been applied",
			mi.name, p.cfg.Group, held.Round(time.Millisecond), p.lastAttempt(a))
	}
	switch a.outcome {
	case outcomeBroken:
		p.m.failed.WithLabelValues(mi.name, "broken").Inc()
		return status.Errorf(codes.Unavailable, "proxy: no answer from the active of group %s to %s within %v (last: %s at %s: %s)",
			p.cfg.Group, mi.name, held.Round(time.Millisecond), a.node.NodeID, a.node.Addr, a.reason)
	}
	p.m.failed.WithLabelValues(mi.name, "no_active").Inc()
	return status.Error(codes.Unavailable, p.noActiveMessage(mi.name, held, a))
}

// lastAttempt describes a for an error message.
func (p *Proxy) lastAttempt(a attempt) string {
	if a.node == nil {
		return "no active"
	}
	return fmt.Sprintf("%s at %s: %s: %s", a.node.NodeID, a.node.Addr, a.outcome, a.reason)
}

func (p *Proxy) noActiveMessage(method string, held time.Duration, a attempt) string {
	msg := fmt.Sprintf("proxy: no active in group %s: %s held for %v", p.cfg.Group, method, held.Round(time.Millisecond))
	switch a.outcome {
	case outcomeNotSent:
		msg += fmt.Sprintf(" (last: cannot connect to %s at %s: %s)", a.node.NodeID, a.node.Addr, a.reason)
	case outcomeRefused:
		msg += fmt.Sprintf(" (last: %s at %s refused: %s)", a.node.NodeID, a.node.Addr, a.reason)
	}
	return msg + "; nothing was applied, retry later"
}

// awaitActive waits until the watch knows an active, the hold deadline
// passes (errNoActive), ctx ends or the proxy closes.
func (p *Proxy) awaitActive(ctx context.Context, until time.Time, h *holdTimer) (*arbiter.Leader, error) {
	for {
		l, changed := p.watch.get()
		if l != nil {
			return l, nil
		}
		d := time.Until(until)
		if d <= 0 {
			return nil, errNoActive
		}
		if err := h.wait(ctx, changed, d); err != nil {
			return nil, err
		}
	}
}

// forwardStream proxies a streaming (or non-Milvus) call to the active as
// a bidirectional stream of frames, without retries.
func (p *Proxy) forwardStream(ss grpc.ServerStream, full, label string, start time.Time) error {
	ctx := ss.Context()
	h := &holdTimer{p: p, label: label}
	l, err := p.awaitActive(ctx, p.holdDeadline(ctx, start), h)
	h.done()
	switch {
	case errors.Is(err, errNoActive):
		p.m.failed.WithLabelValues(label, "no_active").Inc()
		return status.Errorf(codes.Unavailable, "proxy: no active in group %s: %s held for %v; nothing was applied, retry later",
			p.cfg.Group, full, time.Since(start).Round(time.Millisecond))
	case errors.Is(err, errShutdown):
		return status.Error(codes.Unavailable, err.Error())
	case err != nil:
		return status.FromContextError(err).Err()
	}
	cc, release, err := p.backends.acquire(l.Addr)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer release()
	sctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ctx, forwardMD(ctx)))
	defer cancel()
	p.m.forwarded.WithLabelValues(label).Inc()
	cs, err := cc.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, full, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	go func() { // client -> node
		for {
			var f frame
			if err := ss.RecvMsg(&f); err != nil {
				if err == io.EOF {
					cs.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if err := cs.SendMsg(&f); err != nil {
				return // the receive loop below reports the stream's error
			}
		}
	}()
	if md, err := cs.Header(); err == nil {
		if md = cleanMD(md); len(md) > 0 {
			ss.SendHeader(md)
		}
	}
	for { // node -> client
		var f frame
		if err := cs.RecvMsg(&f); err != nil {
			if md := cleanMD(cs.Trailer()); len(md) > 0 {
				ss.SetTrailer(md)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(&f); err != nil {
			return err
		}
	}
}

// forwardMD is the client's request metadata (authorization, dbname,
// identifier, ...) unchanged, without the transport's own headers.
func forwardMD(ctx context.Context) metadata.MD {
	in, _ := metadata.FromIncomingContext(ctx)
	return cleanMD(in)
}

// cleanMD copies md without pseudo-headers and the headers gRPC sets
// itself (content-type, user-agent, te).
func cleanMD(md metadata.MD) metadata.MD {
	out := metadata.MD{}
	for k, v := range md {
		if strings.HasPrefix(k, ":") || k == "content-type" || k == "user-agent" || k == "te" {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}
