package milvus

import (
	"fmt"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

// TestCompactionRPCs: ManualCompaction (by name and by collection ID),
// GetCompactionState and GetCompactionStateWithPlans in Milvus's shapes.
func TestCompactionRPCs(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	g := ts.grpcClient(t)
	ctx := testCtx(t)
	must(t, c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("cmp", 4)))
	for i := 0; i < 3; i++ {
		vecs := make([][]float32, 5)
		for j := range vecs {
			vecs[j] = unitVec(i*5 + j)
		}
		_, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption("cmp").WithFloatVectorColumn("vector", 4, vecs))
		must(t, err)
		ft, err := c.Flush(ctx, milvusclient.NewFlushOption("cmp"))
		must(t, err)
		must(t, ft.Await(ctx))
	}
	info, err := ts.eng.DescribeCollection("", "cmp")
	must(t, err)
	resp, err := g.ManualCompaction(ctx, &milvuspb.ManualCompactionRequest{CollectionID: info.ID})
	must(t, err)
	if resp.GetStatus().GetCode() != 0 || resp.GetCompactionID() <= 0 || resp.GetCompactionPlanCount() != 1 {
		t.Fatalf("ManualCompaction: %v", resp)
	}
	id := resp.GetCompactionID()
	if _, err := ts.eng.WaitCompaction(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := g.GetCompactionState(ctx, &milvuspb.GetCompactionStateRequest{CompactionID: id})
	must(t, err)
	if st.GetState() != commonpb.CompactionState_Completed || st.GetCompletedPlanNo() != 1 || st.GetExecutingPlanNo() != 0 {
		t.Fatalf("GetCompactionState: %v", st)
	}
	pl, err := g.GetCompactionStateWithPlans(ctx, &milvuspb.GetCompactionPlansRequest{CompactionID: id})
	must(t, err)
	if pl.GetState() != commonpb.CompactionState_Completed || len(pl.GetMergeInfos()) != 1 ||
		len(pl.GetMergeInfos()[0].GetSources()) != 3 || pl.GetMergeInfos()[0].GetTarget() == 0 {
		t.Fatalf("GetCompactionStateWithPlans: %v", pl)
	}
	// Nothing left: -1, no plan. An unknown ID: Completed, nothing.
	id2, err := c.Compact(ctx, milvusclient.NewCompactOption("cmp"))
	if err != nil || id2 != -1 {
		t.Fatalf("second Compact: %d %v", id2, err)
	}
	st, err = g.GetCompactionState(ctx, &milvuspb.GetCompactionStateRequest{CompactionID: 987654})
	must(t, err)
	if st.GetState() != commonpb.CompactionState_Completed || st.GetCompletedPlanNo() != 0 {
		t.Fatalf("unknown id: %v", st)
	}
	// REST: the same, in Milvus's REST shapes.
	env := ts.post(t, "/v2/vectordb/collections/compact", map[string]any{"collectionName": "cmp"})
	if env.Code != 0 || string(env.Data) != `{"compactionID":-1}` {
		t.Fatalf("REST compact: %+v %s", env, env.Data)
	}
	env = ts.post(t, "/v2/vectordb/collections/get_compaction_state", map[string]any{"jobID": id})
	if env.Code != 0 || string(env.Data) != fmt.Sprintf(`{"compactionID":%d,"completedPlanNumber":1,"executingPlanNumber":0,"state":"Completed","timeoutPlanNumber":0}`, id) {
		t.Fatalf("REST compaction state: %+v %s", env, env.Data)
	}
	env = ts.post(t, "/v2/vectordb/collections/compact", map[string]any{"collectionName": "nope"})
	if env.Code != 100 || env.Message != "collection not found[collection=nope]" {
		t.Fatalf("REST compact of a missing collection: %+v", env)
	}
	// A missing collection, by name and by ID.
	resp, err = g.ManualCompaction(ctx, &milvuspb.ManualCompactionRequest{CollectionName: "nope"})
	if err != nil || resp.GetStatus().GetCode() != 100 || resp.GetStatus().GetReason() != "collection not found[collection=nope]" {
		t.Fatalf("missing collection: %v %v", resp, err)
	}
	resp, err = g.ManualCompaction(ctx, &milvuspb.ManualCompactionRequest{CollectionID: 424242})
	if err != nil || resp.GetStatus().GetCode() != 100 {
		t.Fatalf("missing collection id: %v %v", resp, err)
	}
}
