package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// http2Preface opens every prior-knowledge cleartext HTTP/2 connection,
// so every gRPC connection.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffTimeout bounds how long a new connection may stay silent before
// its first bytes decide where it goes.
const sniffTimeout = 10 * time.Second

// connMux splits the client listener: connections that open with the
// HTTP/2 preface go to the gRPC server, the others (HTTP/1.x: RESTful v2)
// to the REST forwarder, as the node's own listener does.
type connMux struct {
	base      net.Listener
	grpc      *subListener
	http      *subListener
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	sniffing map[net.Conn]struct{} // not handed over yet; nil once closed
}

func newConnMux(base net.Listener) *connMux {
	m := &connMux{base: base, done: make(chan struct{}), sniffing: map[net.Conn]struct{}{}}
	m.grpc = &subListener{mux: m, conns: make(chan net.Conn)}
	m.http = &subListener{mux: m, conns: make(chan net.Conn)}
	return m
}

// serve accepts until the base listener fails or the mux closes.
func (m *connMux) serve() error {
	var delay time.Duration
	for {
		c, err := m.base.Accept()
		if err != nil {
			select {
			case <-m.done:
				return net.ErrClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go m.dispatch(c)
	}
}

func (m *connMux) dispatch(c net.Conn) {
	m.mu.Lock()
	if m.sniffing == nil {
		m.mu.Unlock()
		c.Close()
		return
	}
	m.sniffing[c] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.sniffing != nil {
			delete(m.sniffing, c)
		}
		m.mu.Unlock()
	}()
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	prefix, isGRPC, err := sniff(c)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	target := m.http
	if isGRPC {
		target = m.grpc
	}
	select {
	case target.conns <- &prefixConn{Conn: c, prefix: prefix}:
	case <-m.done:
		c.Close()
	}
}

// sniff reads until the bytes diverge from the HTTP/2 preface or complete
// it; it returns the bytes read and whether they are the preface.
func sniff(r io.Reader) ([]byte, bool, error) {
	buf := make([]byte, len(http2Preface))
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if !bytes.Equal(buf[:n], []byte(http2Preface[:n])) {
			return buf[:n], false, nil
		}
		if err != nil {
			if n == len(buf) {
				break
			}
			return nil, false, err
		}
	}
	return buf, true, nil
}

// close stops accepting and closes connections still being sniffed.
// Idempotent.
func (m *connMux) close() {
	m.closeOnce.Do(func() {
		close(m.done)
		m.base.Close()
		m.mu.Lock()
		pending := m.sniffing
		m.sniffing = nil
		m.mu.Unlock()
		for c := range pending {
			c.Close()
		}
	})
}

// subListener is a net.Listener fed by the connMux.
type subListener struct {
	mux   *connMux
	conns chan net.Conn
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.mux.done:
		return nil, net.ErrClosed
	}
}

// Close closes the whole multiplexer: neither half is useful alone.
func (l *subListener) Close() error {
	l.mux.close()
	return nil
}

func (l *subListener) Addr() net.Addr { return l.mux.base.Addr() }

// prefixConn replays the sniffed bytes before reading from the conn.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
