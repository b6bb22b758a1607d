package engine

import (
	"context"
	"errors"
	"testing"
)

func TestWaitAppliedAndEpochHistory(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()

	if got, err := e.WaitApplied(bg, 0); err != nil || got != 0 {
		t.Fatalf("WaitApplied(0) = %d, %v", got, err)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := e.WaitApplied(bg, 2)
		woke <- err
	}()
	if _, err := e.WriteEpochStart(bg, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateCollection(bg, "", testSchema("c", 4, false, false, false), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("WaitApplied(2): %v", err)
	}
	if _, err := e.WriteEpochStart(bg, 5); err != nil {
		t.Fatal(err)
	}
	h := e.EpochHistory()
	if len(h) != 2 || h[0] != (EpochStart{Epoch: 3, LSN: 1}) || h[1] != (EpochStart{Epoch: 5, LSN: 3}) {
		t.Fatalf("EpochHistory = %+v", h)
	}
	if first := e.FirstWALLSN(); first != 1 {
		t.Fatalf("FirstWALLSN = %d, want 1", first)
	}

	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := e.WaitApplied(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitApplied with a cancelled ctx: %v", err)
	}
	go func() {
		_, err := e.WaitApplied(bg, 10)
		woke <- err
	}()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err == nil {
		t.Fatal("WaitApplied returned nil after Close")
	}
}
