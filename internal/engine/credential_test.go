package engine

import (
	"context"
	"slices"
	"testing"
)

func TestCredentialsReplayCheckpointAndDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	if err := e.PutCredential(ctx, "alice", "h1", true); err != nil {
		t.Fatal(err)
	}
	if err := e.PutCredential(ctx, "alice", "h1", true); err == nil {
		t.Fatal("create of an existing user succeeded")
	}
	if err := e.PutCredential(ctx, "bob", "h2", false); err == nil {
		t.Fatal("update of a missing user succeeded")
	}
	if err := e.PutCredential(ctx, "bob", "h2", true); err != nil {
		t.Fatal(err)
	}
	if err := e.PutCredential(ctx, "alice", "h3", false); err != nil {
		t.Fatal(err)
	}
	if h, ok := e.Credential("alice"); !ok || h != "h3" {
		t.Fatalf("alice = %q %v", h, ok)
	}
	// The catalog encoding (checkpoint) carries users.
	if err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteCredential(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteCredential(ctx, "bob"); err == nil {
		t.Fatal("delete of a missing user succeeded")
	}
	d1 := mustDigest(t, e)
	e.Close()
	// Reopen: manifest (alice, bob) + WAL replay (delete bob).
	e2 := openTest(t, dir, nil)
	if got := e2.CredentialUsers(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("users after reopen = %v", got)
	}
	if h, _ := e2.Credential("alice"); h != "h3" {
		t.Fatalf("alice after reopen = %q", h)
	}
	if d2 := mustDigest(t, e2); d1 != d2 {
		t.Fatalf("digest changed across reopen")
	}
	if err := e2.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	e2.Close()
	e3 := openTest(t, dir, nil)
	if got := e3.CredentialUsers(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("users after checkpoint+reopen = %v", got)
	}
}

func TestCatalogEncodingWithUsersAndUpstream(t *testing.T) {
	c := newCatalog()
	c.upstream = UpstreamPos{Source: "lead", Epoch: 2, LSN: 9}
	c.users = map[string]string{"root": "x", "a": "y"}
	w := &enc{}
	if err := c.encode(w); err != nil {
		t.Fatal(err)
	}
	d, err := decodeCatalog(&dec{b: w.b})
	if err != nil {
		t.Fatal(err)
	}
	if d.upstream != c.upstream || len(d.users) != 2 || d.users["root"] != "x" {
		t.Fatalf("decoded %+v %v", d.upstream, d.users)
	}
}
