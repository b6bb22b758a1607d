//go:build failpoints

package failpoint

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSpecs(t *testing.T) {
	if err := Inject("t/none"); err != nil {
		t.Fatalf("unarmed point fired: %v", err)
	}
	if err := Enable("t/once", "1*error(boom)"); err != nil {
		t.Fatal(err)
	}
	if err := Inject("t/once"); !errors.Is(err, ErrInjected) {
		t.Fatalf("want ErrInjected, got %v", err)
	}
	if err := Inject("t/once"); err != nil {
		t.Fatalf("1* point fired twice: %v", err)
	}
	if Hits("t/once") != 1 {
		t.Fatalf("hits %d", Hits("t/once"))
	}
	for _, bad := range []string{"nope", "0*error", "sleep(x)", "error(x"} {
		if err := Enable("t/bad", bad); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
}

func TestPauseAndWaitHit(t *testing.T) {
	if err := Enable("t/pause", "pause"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = Inject("t/pause"); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitHit(ctx, "t/pause", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("paused point returned before Disable")
	default:
	}
	Disable("t/pause")
	<-done
}

func TestCountedPauseResumes(t *testing.T) {
	if err := Enable("t/pause1", "1*pause"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = Inject("t/pause1"); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitHit(ctx, "t/pause1", 1); err != nil {
		t.Fatal(err)
	}
	if err := Inject("t/pause1"); err != nil { // spent: does not pause again
		t.Fatal(err)
	}
	Disable("t/pause1")
	<-done
}
