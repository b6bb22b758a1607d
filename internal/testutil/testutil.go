// Package testutil holds helpers shared by tests: awaiting a condition
// instead of sleeping, and picking free loopback ports. It is imported only
// from _test.go files.
package testutil

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Poll is the interval at which Eventually and Await re-check a condition.
const Poll = 10 * time.Millisecond

// Eventually re-checks cond every Poll until it returns true, and fails the
// test (t.Fatalf, so call it from the test goroutine) when timeout passes
// first, naming what was awaited. Choose a generous timeout: the condition
// normally holds long before it, and CI machines are loaded.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Await(ctx, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// EventuallyCtx is Eventually bounded by ctx instead of a timeout.
func EventuallyCtx(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := Await(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Await re-checks cond every Poll until it returns true (nil) or ctx ends
// (ctx.Err()). cond is checked once before the first wait.
func Await(ctx context.Context, cond func() bool) error {
	if cond() {
		return nil
	}
	tk := time.NewTicker(Poll)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			if cond() {
				return nil
			}
			return ctx.Err()
		case <-tk.C:
			if cond() {
				return nil
			}
		}
	}
}

var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago (bound, then released), none handed out before by this test
// binary, so two calls in one process never return the same port. Another
// process may still take a port before the test binds it: tests that start
// servers on these ports should retry on "address already in use".
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	out, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freePorts(n int) ([]int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 100*n {
			return nil, fmt.Errorf("testutil: no free ports (%d of %d found)", len(out), n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testutil: pick a free port: %w", err)
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		if ports.used[p] {
			continue
		}
		ports.used[p] = true
		out = append(out, p)
	}
	return out, nil
}
