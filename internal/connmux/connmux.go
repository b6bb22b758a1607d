// Package connmux splits one TCP listener into a gRPC half and an HTTP/1.x
// half by the first bytes of each connection: a connection that opens
// with the HTTP/2 client preface (every gRPC client on a cleartext or
// already-decrypted connection) goes to GRPC(), any other to HTTP(). The
// sniffed bytes are replayed to the server that gets the connection. The
// node's client port and tandem proxy both serve Milvus gRPC and RESTful
// v2 on one port this way.
package connmux

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// http2Preface is what every HTTP/2 client (and so every gRPC client)
// sends first on a prior-knowledge cleartext connection.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Mux splits one listener into two: connections that open with the
// HTTP/2 client preface go to GRPC(), all others (HTTP/1.x) to HTTP().
type Mux struct {
	base    net.Listener
	timeout time.Duration
	log     *slog.Logger
	grpc    *subListener
	http    *subListener

	closeOnce sync.Once
	done      chan struct{}

	mu       sync.Mutex
	sniffing map[net.Conn]struct{} // conns not yet handed over; closed by close
}

// New returns a Mux over base. A new connection must send its first bytes
// within timeout (0: no limit); log receives connections dropped before
// that (debug level).
func New(base net.Listener, timeout time.Duration, log *slog.Logger) *Mux {
	m := &Mux{base: base, timeout: timeout, log: log, done: make(chan struct{}), sniffing: map[net.Conn]struct{}{}}
	m.grpc = &subListener{mux: m, conns: make(chan net.Conn)}
	m.http = &subListener{mux: m, conns: make(chan net.Conn)}
	return m
}

// Serve accepts until the base listener fails; it returns that error
// (net.ErrClosed after Close).
func (m *Mux) Serve() error {
	var backoff time.Duration
	for {
		c, err := m.base.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. too many open files reported as timeout):
				// back off briefly as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-m.done:
					return net.ErrClosed
				}
			}
			return err
		}
		backoff = 0
		go m.dispatch(c)
	}
}

// dispatch sniffs c's first bytes and hands it to the matching listener.
func (m *Mux) dispatch(c net.Conn) {
	m.mu.Lock()
	if m.sniffing == nil { // closed
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
	if m.timeout > 0 {
		c.SetReadDeadline(time.Now().Add(m.timeout))
	}
	prefix, isGRPC, err := sniff(c)
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) && rhe.Conn != nil {
		// A plaintext client on a TLS port: answer an HTTP/1.x request in
		// words instead of dropping it (a plaintext gRPC client only sees
		// the connection close; the log says why).
		if looksLikeHTTP(rhe.RecordHeader[:]) {
			rhe.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(rhe.Conn, plaintextOnTLSResponse)
		}
		m.log.Info("connmux: plaintext client on a TLS port (it must use TLS)", "remote", c.RemoteAddr().String())
		rhe.Conn.Close()
		return
	}
	if err != nil {
		m.log.Debug("connmux: dropping connection before its first bytes", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: prefix}
	target := m.http
	if isGRPC {
		target = m.grpc
	}
	select {
	case target.conns <- pc:
	case <-m.done:
		c.Close()
	}
}

// plaintextOnTLSResponse answers a plain HTTP request on a TLS port.
const plaintextOnTLSResponse = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"This port serves TLS: use https:// (REST) or a TLS-enabled client (gRPC).\n"

// looksLikeHTTP reports whether the first bytes of a connection are an
// HTTP/1.x method or the HTTP/2 preface.
func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC"} {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// sniff reads from r until the bytes read either diverge from the HTTP/2
// preface or complete it. It returns the bytes read and whether they are
// the full preface. A connection that ends before diverging is an error.
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

// GRPC is the listener of connections that opened with the HTTP/2 preface.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// HTTP is the listener of all other connections.
func (m *Mux) HTTP() net.Listener { return m.http }

// Close closes the base listener, both sub-listeners and connections
// still being sniffed. Idempotent.
func (m *Mux) Close() {
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

// subListener is a net.Listener fed by the Mux.
type subListener struct {
	mux   *Mux
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

// Close closes the whole multiplexer: gRPC and HTTP servers close their
// listeners when they stop, and neither half is useful without the other
// once the server is stopping.
func (l *subListener) Close() error {
	l.mux.Close()
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
