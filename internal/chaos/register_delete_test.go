package chaos

import "testing"

func del(client int, key int64, inv, comp int64, outcome string) Op {
	return Op{Client: client, Kind: KindDelete, Key: key, Invoke: inv, Complete: comp, Outcome: outcome}
}

// TestRegisterDeletes: the register model treats a delete as a write of
// the absent value (0): a read after an acknowledged delete sees the key
// absent; a delete re-applied after another client's write (window 10, a
// retried delete that removed the newer row) is not linearizable.
func TestRegisterDeletes(t *testing.T) {
	ok := []Op{
		w(0, 1, 10, 0, 10, OK),
		del(1, 1, 20, 30, OK),
		rd(0, 1, 0, 40, 50, OK), // absent
		w(0, 1, 11, 60, 70, OK),
		rd(1, 1, 11, 80, 90, OK),
		del(2, 1, 100, 110, Info), // indeterminate: may apply any time later
		rd(0, 1, 11, 120, 130, OK),
		rd(0, 1, 0, 140, 150, OK),
	}
	if r := checkOne(t, ok); r.Violations != 0 || r.Indeterminate != 1 {
		t.Fatalf("%+v", r)
	}
	// Client 1's delete completes at 30; client 0 writes 11 after it; a
	// read at 60 finds the key absent again: the delete took effect twice.
	twice := []Op{
		w(0, 1, 10, 0, 10, OK),
		del(1, 1, 15, 30, OK),
		w(0, 1, 11, 35, 40, OK),
		rd(2, 1, 0, 60, 70, OK),
	}
	if r := checkOne(t, twice); r.Violations != 1 {
		t.Fatalf("a delete applied twice passed: %+v", r)
	}
	// Window 10's upsert: a register reads 10, 11, then 10 again.
	again := []Op{
		w(0, 1, 10, 0, 30, OK),
		rd(2, 1, 10, 5, 10, OK),
		w(1, 1, 11, 12, 15, OK),
		rd(2, 1, 11, 16, 18, OK),
		rd(2, 1, 10, 35, 40, OK),
	}
	if r := checkOne(t, again); r.Violations != 1 {
		t.Fatalf("an upsert applied twice passed: %+v", r)
	}
}
