package engine

import (
	"context"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/internal/merr"
)

func TestAckHook(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	var seen []uint64
	e.SetAckHook(func(ctx context.Context, lsn uint64) error {
		if d := e.DurableLSN(); d < lsn {
			t.Errorf("hook for lsn %d ran before it was durable (%d)", lsn, d)
		}
		seen = append(seen, lsn)
		return nil
	})
	setupColl(t, e, "c", 4, "L2", false, false, false)
	if len(seen) != 3 || seen[2] != e.LastLSN() {
		t.Fatalf("hook saw %v, last lsn %d", seen, e.LastLSN())
	}

	e.SetAckHook(func(ctx context.Context, lsn uint64) error { return errors.New("no standby has it") })
	b := genBatch(rand.New(rand.NewSource(1)), seq(1, 3), 4, false)
	_, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3)
	if !errors.Is(err, merr.ErrServiceUnavailable) || !strings.Contains(err.Error(), "NOT acknowledged") || !strings.Contains(err.Error(), "no standby has it") {
		t.Fatalf("insert with a failing hook: %v", err)
	}
	e.SetAckHook(nil)
	b = genBatch(rand.New(rand.NewSource(2)), seq(10, 3), 4, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("removed hook still ran: %v", seen)
	}
}

// A delete that matches nothing because a concurrent delete (not yet
// acknowledged) already removed the rows must not be acknowledged before
// that delete is: readers capped at the acknowledged state would still
// see the row after the second "done" (found by the chaos suite: a
// register read the value after two concurrent deletes, one done).
func TestNoOpDeleteWaitsForTheStateItSaw(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupColl(t, e, "c", 4, "L2", false, false, false)
	b := genBatch(rand.New(rand.NewSource(1)), seq(1, 3), 4, false)
	if _, err := e.Insert(bg, "", "c", "", b.fields(4, true, false, false), 3); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	held := make(chan uint64, 4)
	e.SetAckHook(func(ctx context.Context, lsn uint64) error {
		held <- lsn
		select {
		case <-hold:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	first := make(chan error, 1)
	go func() { _, err := e.Delete(bg, "", "c", "", "id in [2]"); first <- err }()
	lsn1 := <-held // the first delete is applied, waiting for its acknowledgement
	second := make(chan error, 1)
	go func() { _, err := e.Delete(bg, "", "c", "", "id in [2]"); second <- err }()
	select {
	case lsn := <-held:
		if lsn != lsn1 {
			t.Fatalf("the no-op delete waited for lsn %d, want %d (the state it saw)", lsn, lsn1)
		}
	case err := <-second:
		close(hold)
		t.Fatalf("the no-op delete returned (%v) before the delete it saw was acknowledged", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
