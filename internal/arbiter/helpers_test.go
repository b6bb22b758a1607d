package arbiter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The package's tests share one in-process single-member etcd (each test
// uses its own group). It runs with a 50 ms heartbeat and a 500 ms election
// timeout so that the server's minimum lease TTL is 1 s.
var (
	sharedOnce sync.Once
	shared     *Member
	sharedErr  error
	sharedDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func loopbackConfig(name, dir string) MemberConfig {
	cfg := LocalMemberConfig(name, dir)
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.Logger = testLogger()
	return cfg
}

func sharedMember(t testing.TB) *Member {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "arbiter-test-")
		if sharedErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared, sharedErr = StartMember(ctx, loopbackConfig("shared", sharedDir+"/etcd"))
	})
	if sharedErr != nil {
		t.Fatalf("start shared member: %v", sharedErr)
	}
	return shared
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialT(t testing.TB, endpoints []string) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), endpoints, DialOptions{Logger: testLogger()})
	if err != nil {
		t.Fatalf("Dial(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sharedClient dials the shared member.
func sharedClient(t testing.TB) *Client {
	return dialT(t, sharedMember(t).ClientEndpoints())
}

var groupSeq atomic.Int64

// groupName turns the test's name into a group name (no '/'), unique in
// the process (tests share the member, also across -count runs).
func groupName(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), groupSeq.Add(1))
}

func newSession(t testing.TB, g *Group, ttl time.Duration) *Session {
	t.Helper()
	s, err := g.NewSession(ctxT(t), ttl)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// next receives the next event or fails the test after 20 s.
func next(t testing.TB, ch <-chan GroupEvent) GroupEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event within 20s")
	}
	panic("unreachable")
}

// expect receives events until one of kind k arrives, failing on EventErr
// and on events of other kinds not listed in skip.
func expect(t testing.TB, ch <-chan GroupEvent, k EventKind, skip ...EventKind) GroupEvent {
	t.Helper()
	for {
		ev := next(t, ch)
		if ev.Kind == k {
			return ev
		}
		if ev.Kind == EventErr {
			t.Fatalf("want %v, got error event: %v", k, ev.Err)
		}
		ok := false
		for _, s := range skip {
			ok = ok || s == ev.Kind
		}
		if !ok {
			t.Fatalf("want %v, got %v (%s)", k, ev.Kind, describe(ev))
		}
	}
}

func describe(ev GroupEvent) string {
	switch {
	case ev.Leader != nil:
		return fmt.Sprintf("%v leader=%s epoch=%d rev=%d", ev.Kind, ev.Leader.NodeID, ev.Leader.Epoch, ev.Rev)
	case ev.Member != nil:
		return fmt.Sprintf("%v member=%s rev=%d", ev.Kind, ev.Member.NodeID, ev.Rev)
	case ev.Err != nil:
		return fmt.Sprintf("%v %v", ev.Kind, ev.Err)
	}
	return fmt.Sprintf("%v rev=%d", ev.Kind, ev.Rev)
}

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
