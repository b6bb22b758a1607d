package testutil

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestAwait(t *testing.T) {
	var n atomic.Int32
	if err := Await(context.Background(), func() bool { return n.Add(1) >= 3 }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Await(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await on a cancelled context = %v", err)
	}
	Eventually(t, time.Minute, "counter", func() bool { return n.Add(1) >= 6 })
}

func TestFreePortsDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 3 {
		for _, p := range FreePorts(t, 4) {
			if seen[p] || p <= 0 {
				t.Fatalf("port %d repeated or invalid", p)
			}
			seen[p] = true
		}
	}
}
