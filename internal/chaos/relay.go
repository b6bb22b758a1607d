package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"time"
)

// Relay is a fault-injecting TCP relay: it listens on a loopback port and
// forwards every connection to a target address. Partitioning it (Block)
// stops forwarding in both directions while keeping every socket open —
// a true partition, not a reset: bytes in flight are held (as TCP would
// retransmit them) and delivered once the link heals (Unblock), a peer
// that closes its end meanwhile is not seen closing by the other side
// until then, and a new connection is accepted but not connected through
// until then. Whatever times out meanwhile (gRPC keep-alives, deadlines)
// times out exactly as it would across a cut network link.
type Relay struct {
	Name string

	ln net.Listener

	mu      sync.Mutex
	target  string
	blocked bool
	// blockedFrom are the sources (see Classify) whose connections are
	// partitioned while the link is open for the others.
	blockedFrom map[string]bool
	// wake is closed and replaced whenever a block is lifted.
	wake   chan struct{}
	closed bool
	// classify, when set, names the process at the other end of an
	// accepted connection (SetClassifier).
	classify func(remote net.Addr) string
	done     chan struct{} // closed by Close
	conns    map[*relayConn]struct{}
	// Stats.
	accepted, forwarded int64
	bytes               int64
}

// relayConn is one relayed connection.
type relayConn struct {
	client, upstream net.Conn
	src              string // the source's name (SetClassifier), "" if unknown; guarded by Relay.mu
}

// DialTimeout bounds the relay's connect to its target.
const relayDialTimeout = 2 * time.Second

// NewRelay listens on 127.0.0.1 (an ephemeral port) and forwards to target
// ("" until SetTarget: connections then wait).
func NewRelay(name, target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: relay %s: %w", name, err)
	}
	r := &Relay{Name: name, ln: ln, target: target, wake: make(chan struct{}), done: make(chan struct{}),
		conns: map[*relayConn]struct{}{}, blockedFrom: map[string]bool{}}
	go r.accept()
	return r, nil
}

// Addr is the relay's listen address (host:port).
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Target is the address connections are forwarded to.
func (r *Relay) Target() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

// SetTarget changes the target for new connections.
func (r *Relay) SetTarget(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = target
}

// Block partitions the link: nothing is forwarded until Unblock.
func (r *Relay) Block() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.blocked = true
}

// Unblock heals the link, for every source (BlockFrom too): held bytes
// and closes flow again.
func (r *Relay) Unblock() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.blocked && len(r.blockedFrom) == 0 {
		return
	}
	r.blocked = false
	clear(r.blockedFrom)
	r.wakeLocked()
}

// SetClassifier makes the relay name the source of each connection it
// accepts from now on with classify (given the connection's remote
// address; "" for unknown), so that BlockFrom can partition one source's
// connections and not the others' — e.g. one standby's replication
// stream from the active while another's flows.
func (r *Relay) SetClassifier(classify func(remote net.Addr) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.classify = classify
}

// BlockFrom partitions the connections of source src only (as Block does
// for all), until UnblockFrom(src) or Unblock. Connections whose source
// was not known when they were accepted are classified again first.
func (r *Relay) BlockFrom(src string) {
	r.mu.Lock()
	classify := r.classify
	var unknown []*relayConn
	for c := range r.conns {
		if c.src == "" {
			unknown = append(unknown, c)
		}
	}
	r.mu.Unlock()
	if classify != nil {
		for _, c := range unknown {
			name := classify(c.client.RemoteAddr())
			r.mu.Lock()
			c.src = name
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed && src != "" {
		r.blockedFrom[src] = true
	}
}

// Sources returns the sources of the open connections (with "" for
// unknown ones), sorted.
func (r *Relay) Sources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for c := range r.conns {
		out = append(out, c.src)
	}
	slices.Sort(out)
	return out
}

// UnblockFrom heals source src's connections.
func (r *Relay) UnblockFrom(src string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blockedFrom[src] {
		delete(r.blockedFrom, src)
		r.wakeLocked()
	}
}

func (r *Relay) wakeLocked() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// Blocked reports whether the link is partitioned.
func (r *Relay) Blocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocked
}

// Reset closes every current connection at once (both ends see a reset or
// EOF); new connections are relayed as usual.
func (r *Relay) Reset() {
	r.mu.Lock()
	cs := make([]*relayConn, 0, len(r.conns))
	for c := range r.conns {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// RelayStats counts a relay's traffic.
type RelayStats struct {
	Accepted  int64 // connections accepted
	Forwarded int64 // connections connected through to the target
	Bytes     int64 // bytes forwarded, both directions
	Open      int   // connections open now
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RelayStats{Accepted: r.accepted, Forwarded: r.forwarded, Bytes: r.bytes, Open: len(r.conns)}
}

// Close stops listening and closes every connection.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.done)
	r.mu.Unlock()
	r.ln.Close()
	r.Reset()
}

// waitOpen blocks while the relay is blocked for rc's source; false once
// it is closed.
func (r *Relay) waitOpen(rc *relayConn) bool {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return false
		}
		if !r.blocked && !r.blockedFrom[rc.src] {
			r.mu.Unlock()
			return true
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-r.done:
			return false
		}
	}
}

func (r *Relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.accepted++
		rc := &relayConn{client: c}
		classify := r.classify
		r.conns[rc] = struct{}{}
		r.mu.Unlock()
		go func() {
			if classify != nil {
				name := classify(c.RemoteAddr())
				r.mu.Lock()
				rc.src = name
				r.mu.Unlock()
			}
			r.serve(rc)
		}()
	}
}

func (r *Relay) forget(rc *relayConn) {
	r.mu.Lock()
	delete(r.conns, rc)
	r.mu.Unlock()
}

func (c *relayConn) close() {
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

func (r *Relay) serve(rc *relayConn) {
	defer r.forget(rc)
	// A partitioned link connects nothing through (the client's connect
	// "succeeded" but nothing answers, as when SYNs were dropped after a
	// handshake the client already counts as done).
	if !r.waitOpen(rc) {
		rc.client.Close()
		return
	}
	target := r.Target()
	if target == "" {
		rc.client.Close()
		return
	}
	up, err := net.DialTimeout("tcp", target, relayDialTimeout)
	if err != nil {
		rc.client.Close()
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		up.Close()
		rc.client.Close()
		return
	}
	rc.upstream = up
	r.forwarded++
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(up, rc.client, rc) }()
	go func() { defer wg.Done(); r.pipe(rc.client, up, rc) }()
	wg.Wait()
	rc.close()
}

// pipe copies src to dst, holding data and the end of stream while the
// relay is blocked.
func (r *Relay) pipe(dst, src net.Conn, rc *relayConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !r.waitOpen(rc) {
				dst.Close()
				src.Close()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
			r.mu.Lock()
			r.bytes += int64(n)
			r.mu.Unlock()
		}
		if err != nil {
			// The end of the stream (or an error) crosses the link only
			// when it is open, like a FIN or RST would.
			if !r.waitOpen(rc) {
				dst.Close()
				return
			}
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					return
				}
			}
			dst.Close()
			return
		}
	}
}

// Net is a set of named relays: the links of a deployment that faults
// can cut.
type Net struct {
	mu     sync.Mutex
	relays map[string]*Relay
}

// NewNet returns an empty set.
func NewNet() *Net { return &Net{relays: map[string]*Relay{}} }

// Relay returns the relay named name, creating it (listening, with target
// target) if needed; an existing relay's target is set to target when
// target is not "".
func (n *Net) Relay(name, target string) (*Relay, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.relays[name]; ok {
		if target != "" {
			r.SetTarget(target)
		}
		return r, nil
	}
	r, err := NewRelay(name, target)
	if err != nil {
		return nil, err
	}
	n.relays[name] = r
	return r, nil
}

// Get returns the relay named name, or nil.
func (n *Net) Get(name string) *Relay {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.relays[name]
}

// Names returns the relays' names, sorted.
func (n *Net) Names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k := range n.relays {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Block partitions the named links (unknown names are an error).
func (n *Net) Block(names ...string) error {
	return n.each(names, (*Relay).Block)
}

// Unblock heals the named links.
func (n *Net) Unblock(names ...string) error {
	return n.each(names, (*Relay).Unblock)
}

// Blocked returns the names of the partitioned links, sorted.
func (n *Net) Blocked() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k, r := range n.relays {
		if r.Blocked() {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// HealAll unblocks every link.
func (n *Net) HealAll() {
	n.mu.Lock()
	rs := make([]*Relay, 0, len(n.relays))
	for _, r := range n.relays {
		rs = append(rs, r)
	}
	n.mu.Unlock()
	for _, r := range rs {
		r.Unblock()
	}
}

func (n *Net) each(names []string, f func(*Relay)) error {
	var rs []*Relay
	n.mu.Lock()
	for _, name := range names {
		r, ok := n.relays[name]
		if !ok {
			n.mu.Unlock()
			return fmt.Errorf("chaos: no link %q", name)
		}
		rs = append(rs, r)
	}
	n.mu.Unlock()
	for _, r := range rs {
		f(r)
	}
	return nil
}

// Close closes every relay.
func (n *Net) Close() {
	n.mu.Lock()
	rs := n.relays
	n.relays = map[string]*Relay{}
	n.mu.Unlock()
	for _, r := range rs {
		r.Close()
	}
}
