package node

import (
	"math/rand/v2"
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
