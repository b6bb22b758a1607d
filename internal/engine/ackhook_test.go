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
