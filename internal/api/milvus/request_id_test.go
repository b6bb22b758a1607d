package milvus

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc/metadata"
)

// TestRequestIDHeader: a write sent again with its tandem-request-id
// (gRPC metadata or REST header) returns the original result and applies
// nothing; a malformed id is refused.
func TestRequestIDHeader(t *testing.T) {
	ts := startServer(t, Options{})
	c := sdkClient(t, ts)
	ctx := testCtx(t)
	must(t, c.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("rid", 4))) // auto-id
	insert := func(id string) ([]int64, error) {
		ictx := metadata.AppendToOutgoingContext(ctx, RequestIDHeader, id)
		res, err := c.Insert(ictx, milvusclient.NewColumnBasedInsertOption("rid").
			WithFloatVectorColumn("vector", 4, [][]float32{unitVec(1), unitVec(2)}))
		if err != nil {
			return nil, err
		}
		return int64s(t, res.IDs), nil
	}
	first, err := insert("grpc-1")
	must(t, err)
	again, err := insert("grpc-1")
	must(t, err)
	if len(first) != 2 || first[0] != again[0] || first[1] != again[1] {
		t.Fatalf("ids %v then %v, want the same", first, again)
	}
	if _, err := insert("bad id!"); err == nil || !strings.Contains(err.Error(), "request id") {
		t.Fatalf("malformed id: %v", err)
	}

	// REST: the same header.
	rest := func(id string) restEnvelope {
		body, _ := json.Marshal(map[string]any{"collectionName": "rid", "data": []map[string]any{{"vector": unitVec(3)}}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+ts.addr+"/v2/vectordb/entities/insert", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(RequestIDHeader, id)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var env restEnvelope
		must(t, json.NewDecoder(resp.Body).Decode(&env))
		return env
	}
	a, b := rest("rest-1"), rest("rest-1")
	if a.Code != 0 || string(a.Data) != string(b.Data) {
		t.Fatalf("REST insert %+v then %+v, want the same answer", a, b)
	}
	stats, err := c.GetCollectionStats(ctx, milvusclient.NewGetCollectionStatsOption("rid"))
	if err != nil || stats["row_count"] != "3" {
		t.Fatalf("rows %v %v, want 3", stats, err)
	}
	if env := rest("x/y"); env.Code != 1100 {
		t.Fatalf("REST malformed id: %+v", env)
	}
}
