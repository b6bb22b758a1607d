package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer accepts connections and echoes lines; it reports each
// connection's end (EOF or error) on ended.
func echoServer(t *testing.T) (addr string, ended chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ended = make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, err := io.Copy(c, c)
				ended <- err
			}()
		}
	}()
	return ln.Addr().String(), ended
}

func newTestRelay(t *testing.T, target string) *Relay {
	t.Helper()
	r, err := NewRelay("test", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func dialRelay(t *testing.T, r *Relay) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// readLine reads a line within d; ok false on timeout.
func readLine(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) (string, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	s, err := br.ReadString('\n')
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return s, false
		}
		t.Fatalf("read: %v", err)
	}
	return s, true
}

func TestRelayForwards(t *testing.T) {
	addr, _ := echoServer(t)
	r := newTestRelay(t, addr)
	c, br := dialRelay(t, r)
	c.Write([]byte("hello\n"))
	if s, ok := readLine(t, c, br, 2*time.Second); !ok || s != "hello\n" {
		t.Fatalf("got %q, %v", s, ok)
	}
	// The echo can reach the client before the relay's pump has counted
	// the bytes it wrote: await the count.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := r.Stats()
		if st.Accepted == 1 && st.Forwarded == 1 && st.Bytes == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// A blocked link holds the bytes (neither delivered nor lost) and keeps the
// connection open; unblocking delivers them.
func TestRelayBlockHoldsAndHeals(t *testing.T) {
	addr, ended := echoServer(t)
	r := newTestRelay(t, addr)
	c, br := dialRelay(t, r)
	c.Write([]byte("one\n"))
	if s, ok := readLine(t, c, br, 2*time.Second); !ok || s != "one\n" {
		t.Fatalf("got %q, %v", s, ok)
	}
	r.Block()
	if !r.Blocked() {
		t.Fatal("not blocked")
	}
	c.Write([]byte("two\n"))
	if s, ok := readLine(t, c, br, 300*time.Millisecond); ok {
		t.Fatalf("read %q through a partition", s)
	}
	select {
	case err := <-ended:
		t.Fatalf("the server's connection ended during the partition: %v", err)
	default:
	}
	r.Unblock()
	if s, ok := readLine(t, c, br, 2*time.Second); !ok || s != "two\n" {
		t.Fatalf("after the heal got %q, %v", s, ok)
	}
}

// A connection made during a partition connects through only after it.
func TestRelayNewConnDuringBlock(t *testing.T) {
	addr, _ := echoServer(t)
	r := newTestRelay(t, addr)
	r.Block()
	c, br := dialRelay(t, r)
	c.Write([]byte("x\n"))
	if s, ok := readLine(t, c, br, 300*time.Millisecond); ok {
		t.Fatalf("read %q through a partition", s)
	}
	if st := r.Stats(); st.Forwarded != 0 {
		t.Fatalf("forwarded during a partition: %+v", st)
	}
	r.Unblock()
	if s, ok := readLine(t, c, br, 2*time.Second); !ok || s != "x\n" {
		t.Fatalf("after the heal got %q, %v", s, ok)
	}
}

// A close during a partition reaches the other side only after it.
func TestRelayCloseHeldDuringBlock(t *testing.T) {
	addr, ended := echoServer(t)
	r := newTestRelay(t, addr)
	c, br := dialRelay(t, r)
	c.Write([]byte("a\n"))
	readLine(t, c, br, 2*time.Second)
	r.Block()
	c.Close()
	select {
	case err := <-ended:
		t.Fatalf("the server saw the close through a partition: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	r.Unblock()
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("the server never saw the close after the heal")
	}
}

func TestRelayResetAndRetarget(t *testing.T) {
	addr1, ended1 := echoServer(t)
	addr2, _ := echoServer(t)
	r := newTestRelay(t, addr1)
	c, br := dialRelay(t, r)
	c.Write([]byte("a\n"))
	readLine(t, c, br, 2*time.Second)
	r.Reset()
	select {
	case <-ended1:
	case <-time.After(2 * time.Second):
		t.Fatal("reset did not end the upstream connection")
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("client connection survived a reset")
	}
	r.SetTarget(addr2)
	if r.Target() != addr2 {
		t.Fatal("target not changed")
	}
	c2, br2 := dialRelay(t, r)
	c2.Write([]byte("b\n"))
	if s, ok := readLine(t, c2, br2, 2*time.Second); !ok || s != "b\n" {
		t.Fatalf("got %q, %v", s, ok)
	}
}

func TestNet(t *testing.T) {
	addr, _ := echoServer(t)
	n := NewNet()
	defer n.Close()
	a, err := n.Relay("n1>a1", addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := n.Relay("peer>n1", "")
	if again, _ := n.Relay("n1>a1", ""); again != a || a.Target() != addr {
		t.Fatal("Relay did not return the existing relay")
	}
	n.Relay("peer>n1", addr)
	if b.Target() != addr {
		t.Fatal("target not set on an existing relay")
	}
	if err := n.Block("n1>a1", "nope"); err == nil {
		t.Fatal("blocking an unknown link succeeded")
	}
	if err := n.Block("n1>a1"); err != nil {
		t.Fatal(err)
	}
	if got := n.Blocked(); len(got) != 1 || got[0] != "n1>a1" {
		t.Fatalf("blocked %v", got)
	}
	n.HealAll()
	if got := n.Blocked(); len(got) != 0 {
		t.Fatalf("blocked after HealAll: %v", got)
	}
	if got := n.Names(); len(got) != 2 || got[0] != "n1>a1" || got[1] != "peer>n1" {
		t.Fatalf("names %v", got)
	}
}

// TestRelayBlockFrom: with a classifier naming this process's sockets,
// BlockFrom holds that source's connections only, and UnblockFrom heals
// them; SocketOwner finds this process as the owner of its own socket.
func TestRelayBlockFrom(t *testing.T) {
	addr, _ := echoServer(t)
	r := newTestRelay(t, addr)
	me := map[int]string{os.Getpid(): "me"}
	r.SetClassifier(func(remote net.Addr) string { return SocketOwner(remote, r.ln.Addr(), me) })
	c, br := dialRelay(t, r)
	if _, err := c.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if l, ok := readLine(t, c, br, 5*time.Second); !ok || l != "a\n" {
		t.Fatalf("before the block: %q, %v", l, ok)
	}
	r.BlockFrom("other")
	c.Write([]byte("b\n"))
	if l, ok := readLine(t, c, br, 5*time.Second); !ok || l != "b\n" {
		t.Fatalf("another source blocked: %q, %v", l, ok)
	}
	r.BlockFrom("me")
	c.Write([]byte("c\n"))
	if l, ok := readLine(t, c, br, 300*time.Millisecond); ok {
		t.Fatalf("this source blocked, yet read %q (classified as %q?)", l, SocketOwner(c.LocalAddr(), r.ln.Addr(), me))
	}
	r.UnblockFrom("me")
	if l, ok := readLine(t, c, br, 5*time.Second); !ok || l != "c\n" {
		t.Fatalf("after the heal: %q, %v", l, ok)
	}
}
