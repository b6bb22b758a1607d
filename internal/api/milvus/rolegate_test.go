package milvus

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/tandem-db/tandem/internal/merr"
)

// switchGate refuses while refuse is set.
type switchGate struct{ refuse atomic.Bool }

func (g *switchGate) ServeClient() error {
	if g.refuse.Load() {
		return merr.Wrapf(merr.ErrServiceUnavailable, "node n2 is standby; the active is n1 at 127.0.0.1:19531")
	}
	return nil
}

func TestRoleGate(t *testing.T) {
	g := &switchGate{}
	g.refuse.Store(true)
	ts := startServer(t, Options{RoleGate: g})
	c := ts.grpcClient(t)
	ctx := context.Background()

	// Handshake and health are always served.
	if r, err := c.Connect(ctx, &milvuspb.ConnectRequest{}); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("connect: %v %v", r, err)
	}
	if r, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{}); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("get version: %v %v", r, err)
	}
	if r, err := c.CheckHealth(ctx, &milvuspb.CheckHealthRequest{}); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("check health: %v %v", r, err)
	}
	// Data RPCs get a retriable "service unavailable" naming the active.
	check := func(name string, st *commonpb.Status, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.GetCode() != merr.ErrServiceUnavailable.Code || !st.GetRetriable() || !strings.Contains(st.GetReason(), "the active is n1 at 127.0.0.1:19531") {
			t.Fatalf("%s: status %v", name, st)
		}
	}
	r1, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
	check("ShowCollections", r1.GetStatus(), err)
	r2, err := c.Insert(ctx, &milvuspb.InsertRequest{CollectionName: "c"})
	check("Insert", r2.GetStatus(), err)
	r3, err := c.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "c"})
	check("DropCollection", r3, err)
	r4, err := c.Search(ctx, &milvuspb.SearchRequest{CollectionName: "c"})
	check("Search", r4.GetStatus(), err)

	env := ts.post(t, "/v2/vectordb/collections/list", map[string]any{})
	if env.Code != merr.ErrServiceUnavailable.Code || !strings.Contains(env.Message, "the active is n1") {
		t.Fatalf("REST: %+v", env)
	}

	// Once the gate opens, the same calls are served.
	g.refuse.Store(false)
	r1, err = c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
	if err != nil || r1.GetStatus().GetCode() != 0 {
		t.Fatalf("ShowCollections: %v %v", r1, err)
	}
	ts.okPost(t, "/collections/list", map[string]any{}, nil)
}
