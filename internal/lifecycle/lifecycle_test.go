package lifecycle

import (
	"sync/atomic"
	"testing"
)

func TestGroupWaitsAndRefusesAfterStop(t *testing.T) {
	var g Group
	release := make(chan struct{})
	var done atomic.Int32
	for range 3 {
		if !g.Go(func() { <-release; done.Add(1) }) {
			t.Fatal("Go refused before Stop")
		}
	}
	g.Stop()
	if g.Go(func() { t.Error("ran after Stop") }) {
		t.Fatal("Go started a goroutine after Stop")
	}
	if !g.Stopped() {
		t.Fatal("Stopped() = false after Stop")
	}
	close(release)
	g.Wait()
	if n := done.Load(); n != 3 {
		t.Fatalf("Wait returned with %d of 3 goroutines done", n)
	}
	g.StopAndWait() // idempotent
}

func TestGroupZeroWait(t *testing.T) {
	var g Group
	g.StopAndWait()
}
