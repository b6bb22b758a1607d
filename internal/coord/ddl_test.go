package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// fakeGroups is an in-memory GroupCaller: it records every call and can
// be told to fail (outcome unknown) until released.
type fakeGroups struct {
	mu    sync.Mutex
	calls []string // "group method"
	down  bool
}

func (f *fakeGroups) Call(ctx context.Context, group, method string, req proto.Message) (*commonpb.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("group unreachable")
	}
	if c, ok := req.(*milvuspb.CreateCollectionRequest); ok {
		s := &schemapb.CollectionSchema{}
		proto.Unmarshal(c.Schema, s)
		if s.AutoID || c.ShardsNum != 1 {
			return nil, errors.New("groups must get auto_id off and one shard")
		}
	}
	f.calls = append(f.calls, group+" "+method)
	return &commonpb.Status{}, nil
}

func (f *fakeGroups) n() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func createReq(t *testing.T, name string, shards int32) []byte {
	s := &schemapb.CollectionSchema{Name: name, AutoID: true, Fields: []*schemapb.FieldSchema{
		{Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true, AutoID: true},
		{Name: "v", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "4"}}}}}
	sb, _ := proto.Marshal(s)
	b, err := proto.Marshal(&milvuspb.CreateCollectionRequest{CollectionName: name, Schema: sb, ShardsNum: shards})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDDLCreatePlacesShardsAndAnswersRetriesOnce(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	fg := &fakeGroups{}
	c := start(t, cli, "ddl1", "c1", RoleRoot)
	c.SetGroupCaller(fg)
	await(t, c, RoleRoot, true)
	// No group yet: refused, nothing recorded in the catalog.
	st, err := c.ExecuteDDL(ctx, Intent{ID: "r0", Method: "CreateCollection", Collection: "x", Request: createReq(t, "x", 2)})
	if err != nil || !strings.Contains(st.GetReason(), "has no shard group") {
		t.Fatalf("create with no group: %v %v", st, err)
	}
	for _, g := range []string{"g2", "g1"} {
		if err := JoinGroup(ctx, cli, "ddl1", g); err != nil {
			t.Fatal(err)
		}
	}
	in := Intent{ID: "r1", Method: "CreateCollection", Collection: "x", Request: createReq(t, "x", 4)}
	st, err = c.ExecuteDDL(ctx, in)
	if err != nil || st.GetCode() != 0 {
		t.Fatalf("create: %v %v", st, err)
	}
	m, err := ReadCollection(ctx, cli, "ddl1", "default", "x")
	if err != nil || m == nil || m.ShardsNum != 4 || len(m.Groups) != 2 {
		t.Fatalf("catalog entry: %+v %v", m, err)
	}
	s, _ := m.DecodeSchema()
	if !s.AutoID {
		t.Fatalf("the catalog keeps the client's schema (auto_id)")
	}
	calls := fg.n()
	if calls != 2 {
		t.Fatalf("%d group calls, want 2", calls)
	}
	// A retry of the same request is answered from the intent.
	if st, err := c.ExecuteDDL(ctx, in); err != nil || st.GetCode() != 0 || fg.n() != calls {
		t.Fatalf("retry: %v %v, %d calls", st, err, fg.n())
	}
	// DDL on a collection that does not exist: Milvus's not found.
	ib, _ := proto.Marshal(&milvuspb.CreateIndexRequest{CollectionName: "nope", FieldName: "v"})
	st, err = c.ExecuteDDL(ctx, Intent{ID: "r2", Method: "CreateIndex", Collection: "nope", Request: ib})
	if err != nil || st.GetCode() != 100 || !strings.Contains(st.GetReason(), "collection not found[collection=nope]") {
		t.Fatalf("index on a missing collection: %v %v", st, err)
	}
	// Malformed request bytes.
	if st, err := c.ExecuteDDL(ctx, Intent{ID: "r3", Method: "DropCollection", Collection: "x", Request: []byte{0xff, 0xff}}); err != nil || st.GetCode() == 0 {
		t.Fatalf("malformed request: %v %v", st, err)
	}
	if _, err := c.ExecuteDDL(ctx, Intent{ID: "r4", Method: "Search", Request: nil}); err == nil {
		t.Fatal("a non-DDL method must be refused")
	}
}

// TestDDLResumedByNewRoot: the groups are unreachable while the first root
// applies a DropCollection, so it stays pending; the root dies; the new root
// resumes it when the groups are back, and a client retry gets the result.
func TestDDLResumedByNewRoot(t *testing.T) {
	cli := testCli(t)
	ctx := ctxT(t)
	fg := &fakeGroups{}
	if err := JoinGroup(ctx, cli, "ddl2", "g1"); err != nil {
		t.Fatal(err)
	}
	c1 := start(t, cli, "ddl2", "c1", RoleRoot)
	c1.SetGroupCaller(fg)
	await(t, c1, RoleRoot, true)
	if st, err := c1.ExecuteDDL(ctx, Intent{ID: "create", Method: "CreateCollection", Collection: "y", Request: createReq(t, "y", 1)}); err != nil || st.GetCode() != 0 {
		t.Fatalf("create: %v %v", st, err)
	}
	fg.mu.Lock()
	fg.down = true
	fg.mu.Unlock()
	db, _ := proto.Marshal(&milvuspb.DropCollectionRequest{CollectionName: "y"})
	drop := Intent{ID: "drop", Method: "DropCollection", Collection: "y", Request: db}
	if _, err := c1.ExecuteDDL(ctx, drop); err == nil {
		t.Fatal("drop with the groups unreachable must fail (outcome unknown)")
	}
	c2 := start(t, cli, "ddl2", "c2", RoleRoot)
	c2.SetGroupCaller(fg)
	c1.stop()
	fg.mu.Lock()
	fg.down = false
	fg.mu.Unlock()
	await(t, c2, RoleRoot, true)
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := ReadCollection(ctx, cli, "ddl2", "default", "y")
		if err == nil && m == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new root did not resume the pending drop: %+v %v", m, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := fg.n()
	if st, err := c2.ExecuteDDL(ctx, drop); err != nil || st.GetCode() != 0 || fg.n() != before {
		t.Fatalf("client retry after the resume: %v %v (%d -> %d calls)", st, err, before, fg.n())
	}
}
