package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

type restResp struct {
	Code    int32           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func restCall(t *testing.T, addr, path string, body any) restResp {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post("http://"+addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r restResp
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("POST %s: bad JSON %q: %v", path, raw, err)
	}
	return r
}

// TestRESTv2 drives the RESTful v2 API on the client port, as Milvus serves it.
func TestRESTv2(t *testing.T) {
	n := startNode(t, t.TempDir())
	const coll = "rest_items"
	mustOK := func(path string, body any) restResp {
		t.Helper()
		r := restCall(t, n.Addr, path, body)
		if r.Code != 0 {
			t.Fatalf("%s: code %d: %s", path, r.Code, r.Message)
		}
		return r
	}
	mustOK("/v2/vectordb/collections/create", map[string]any{
		"collectionName": coll, "dimension": 4, "metricType": "L2",
	})
	r := mustOK("/v2/vectordb/collections/has", map[string]any{"collectionName": coll})
	var has struct{ Has bool }
	json.Unmarshal(r.Data, &has)
	if !has.Has {
		t.Fatalf("has: %s", r.Data)
	}
	rows := []map[string]any{}
	for i := 0; i < 20; i++ {
		f := float64(i)
		rows = append(rows, map[string]any{"id": i, "vector": []float64{f, f, f, f}, "tag": "t"})
	}
	mustOK("/v2/vectordb/entities/insert", map[string]any{"collectionName": coll, "data": rows})
	r = mustOK("/v2/vectordb/entities/search", map[string]any{
		"collectionName": coll, "data": [][]float64{{3.1, 3.1, 3.1, 3.1}}, "limit": 3, "outputFields": []string{"id"},
	})
	var hits []map[string]any
	if err := json.Unmarshal(r.Data, &hits); err != nil || len(hits) != 3 {
		t.Fatalf("search data %s: %v", r.Data, err)
	}
	if id, _ := hits[0]["id"].(float64); id != 3 {
		t.Fatalf("nearest = %v, want id 3 (%s)", hits[0], r.Data)
	}
	mustOK("/v2/vectordb/entities/delete", map[string]any{"collectionName": coll, "filter": "id in [3]"})
	r = mustOK("/v2/vectordb/entities/query", map[string]any{"collectionName": coll, "filter": "id < 5", "outputFields": []string{"id"}})
	var qrows []map[string]any
	json.Unmarshal(r.Data, &qrows)
	if len(qrows) != 4 {
		t.Fatalf("query after delete: %s", r.Data)
	}
	// Errors use Milvus codes in the envelope.
	if r := restCall(t, n.Addr, "/v2/vectordb/collections/describe", map[string]any{"collectionName": "missing"}); r.Code != 100 {
		t.Fatalf("describe missing: code %d %s, want 100", r.Code, r.Message)
	}
	if r := restCall(t, n.Addr, "/v2/vectordb/entities/query", map[string]any{"collectionName": coll, "filter": "id <<< 2"}); r.Code != 1100 {
		t.Fatalf("bad filter: code %d %s, want 1100", r.Code, r.Message)
	}
	mustOK("/v2/vectordb/collections/drop", map[string]any{"collectionName": coll})

	// Health and metrics on the side port.
	resp, err := http.Get("http://" + n.HTTPAddr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + n.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"tandem_requests_total", "tandem_wal_fsync_duration_seconds", "tandem_rows"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}
