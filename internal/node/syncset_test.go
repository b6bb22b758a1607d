package node

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestSyncSetRetryDelay: after failed writes of S the manager waits an
// exponentially growing, jittered, bounded delay; the same seed gives the
// same delays.
func TestSyncSetRetryDelay(t *testing.T) {
	a, b := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 100; n++ {
		d := retryDelay(n, a)
		want := manageMaxBackoff
		if n < 16 {
			want = min(manageTick<<n, manageMaxBackoff)
		}
		if d < want/2 || d > want {
			t.Fatalf("failure %d: delay %v, want within [%v, %v]", n, d, want/2, want)
		}
		if e := retryDelay(n, b); e != d {
			t.Fatalf("failure %d: same seed gave %v and %v", n, d, e)
		}
	}
	if d := retryDelay(1, a); d > 10*time.Millisecond {
		t.Fatalf("first retry after %v: the happy path must stay fast", d)
	}
}

// TestSyncSetWaitingLog: a waiting episode (writes held back for want of
// standbys in S) is logged at WARN when it starts and again every
// waitWarnEvery while writes wait, not more often, and at INFO when S has
// enough standbys again.
func TestSyncSetWaitingLog(t *testing.T) {
	registerMetrics()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := newSyncSet("w1", 1, SyncStrict, time.Second, time.Second, nil, nil, log, nil)
	s.epoch = 1
	count := func(level, msg string) int {
		n := 0
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "level="+level) && strings.Contains(l, msg) {
				n++
			}
		}
		return n
	}
	t0 := time.Unix(1_800_000_000, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.startWaitLocked(t0) || s.startWaitLocked(t0.Add(time.Second)) {
		t.Fatal("the first held-back write must start the episode, the second not")
	}
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 9 * time.Second} {
		if s.checkWaitLocked(t0.Add(d)) {
			t.Fatal("episode ended while S is short")
		}
	}
	if n := count("WARN", "WAITING for a standby"); n != 1 {
		t.Fatalf("%d WARN lines in the first 10 s, want 1:\n%s", n, buf.String())
	}
	s.checkWaitLocked(t0.Add(waitWarnEvery))
	s.checkWaitLocked(t0.Add(waitWarnEvery + time.Second))
	if n := count("WARN", "still WAITING for a standby"); n != 1 || !strings.Contains(buf.String(), "waiting_writes=2") {
		t.Fatalf("want one repeated WARN naming 2 waiting writes:\n%s", buf.String())
	}
	if st := s.statusLocked(); st.WaitingWrites != 2 || st.WaitingSince == nil || !st.WaitingSince.Equal(t0) {
		t.Fatalf("status %+v", st)
	}
	s.members = []string{"x@1"}
	if !s.checkWaitLocked(t0.Add(12*time.Second)) || count("INFO", "no longer wait for a standby") != 1 {
		t.Fatalf("episode did not end when S had enough standbys:\n%s", buf.String())
	}
	if !s.waitSince.IsZero() || s.checkWaitLocked(t0.Add(13*time.Second)) {
		t.Fatal("episode still running")
	}
}
