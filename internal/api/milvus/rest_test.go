package milvus

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
)

// ok decodes a successful envelope's data into v.
func (e restEnvelope) decode(t *testing.T, v any) {
	t.Helper()
	if e.Code != 0 {
		t.Fatalf("REST error %d: %s", e.Code, e.Message)
	}
	if v != nil {
		if err := json.Unmarshal(e.Data, v); err != nil {
			t.Fatalf("decoding %s: %v", e.Data, err)
		}
	}
}

func (ts *testServer) okPost(t *testing.T, path string, body any, v any) {
	t.Helper()
	env := ts.post(t, "/v2/vectordb"+path, body)
	if env.Code != 0 {
		t.Fatalf("POST %s: code %d: %s", path, env.Code, env.Message)
	}
	env.decode(t, v)
}

func TestRESTQuickCreate(t *testing.T) {
	ts := startServer(t, Options{})
	ts.okPost(t, "/collections/create", map[string]any{"collectionName": "q", "dimension": 4, "metricType": "L2"}, nil)

	var has struct{ Has bool }
	ts.okPost(t, "/collections/has", map[string]any{"collectionName": "q"}, &has)
	if !has.Has {
		t.Fatal("has = false")
	}
	ts.okPost(t, "/collections/has", map[string]any{"collectionName": "nope"}, &has)
	if has.Has {
		t.Fatal("has(nope) = true")
	}
	var names []string
	ts.okPost(t, "/collections/list", map[string]any{}, &names)
	if !slices.Equal(names, []string{"q"}) {
		t.Fatalf("list %v", names)
	}
	var desc struct {
		CollectionName     string
		CollectionID       int64
		EnableDynamicField bool
		Load               string
		Fields             []struct {
			Name       string
			Type       string
			PrimaryKey bool
			Params     []restKV
		}
		Indexes []struct{ FieldName, IndexName, MetricType string }
	}
	ts.okPost(t, "/collections/describe", map[string]any{"collectionName": "q"}, &desc)
	if desc.CollectionName != "q" || desc.CollectionID == 0 || !desc.EnableDynamicField || desc.Load != "LoadStateLoaded" ||
		len(desc.Fields) != 2 || desc.Fields[0].Name != "id" || !desc.Fields[0].PrimaryKey || desc.Fields[1].Type != "FloatVector" ||
		len(desc.Indexes) != 1 || desc.Indexes[0].MetricType != "L2" {
		t.Fatalf("describe %+v", desc)
	}
	var ls struct {
		LoadState    string
		LoadProgress int
	}
	ts.okPost(t, "/collections/get_load_state", map[string]any{"collectionName": "q"}, &ls)
	if ls.LoadState != "LoadStateLoaded" || ls.LoadProgress != 100 {
		t.Fatalf("load state %+v", ls)
	}

	// Insert rows with a dynamic key; the primary key is not auto-id.
	var rows []map[string]any
	for i := 0; i < 10; i++ {
		rows = append(rows, map[string]any{"id": i, "vector": unitVec(i), "color": []string{"red", "blue"}[i%2]})
	}
	var ins struct {
		InsertCount int
		InsertIds   []int64
	}
	ts.okPost(t, "/entities/insert", map[string]any{"collectionName": "q", "data": rows}, &ins)
	if ins.InsertCount != 10 || len(ins.InsertIds) != 10 || ins.InsertIds[9] != 9 {
		t.Fatalf("insert %+v", ins)
	}
	var stats struct{ RowCount int64 }
	ts.okPost(t, "/collections/get_stats", map[string]any{"collectionName": "q"}, &stats)
	if stats.RowCount != 10 {
		t.Fatalf("stats %+v", stats)
	}

	// Search with a filter on the dynamic key.
	env := ts.post(t, "/v2/vectordb/entities/search", map[string]any{
		"collectionName": "q", "data": [][]float32{unitVec(2)}, "limit": 3,
		"filter": `color == "red"`, "outputFields": []string{"color"},
	})
	var hits []map[string]any
	env.decode(t, &hits)
	if len(hits) != 3 || hits[0]["id"] != float64(2) || hits[0]["color"] != "red" || !slices.Equal(env.Topks, []int64{3}) {
		t.Fatalf("search hits %v topks %v", hits, env.Topks)
	}
	if _, has := hits[0]["distance"]; !has {
		t.Fatalf("no distance in %v", hits[0])
	}

	// A malformed search is a Milvus error, not an HTTP error.
	env = ts.post(t, "/v2/vectordb/entities/search", map[string]any{"collectionName": "q", "data": [][]float32{{1, 2}}})
	if env.Code == 0 {
		t.Fatal("search with wrong dim accepted")
	}
	env = ts.post(t, "/v2/vectordb/entities/insert", map[string]any{"collectionName": "q", "data": []map[string]any{{"id": 1, "vector": "x"}}})
	if env.Code != 1804 {
		t.Fatalf("bad insert row: %+v", env)
	}

	ts.okPost(t, "/collections/release", map[string]any{"collectionName": "q"}, nil)
	ts.okPost(t, "/collections/get_load_state", map[string]any{"collectionName": "q"}, &ls)
	if ls.LoadState != "LoadStateNotLoad" {
		t.Fatalf("load state after release %+v", ls)
	}
	ts.okPost(t, "/collections/load", map[string]any{"collectionName": "q"}, nil)
	ts.okPost(t, "/collections/drop", map[string]any{"collectionName": "q"}, nil)
	if env := ts.post(t, "/v2/vectordb/collections/describe", map[string]any{"collectionName": "q"}); env.Code != 100 {
		t.Fatalf("describe dropped: %+v", env)
	}
}

func TestRESTFullSchema(t *testing.T) {
	ts := startServer(t, Options{})
	create := `{
		"collectionName": "f",
		"schema": {
			"autoId": false,
			"enableDynamicField": true,
			"fields": [
				{"fieldName": "pk", "dataType": "VarChar", "isPrimary": true, "elementTypeParams": {"max_length": 32}},
				{"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": "4"}},
				{"fieldName": "age", "dataType": "Int16"},
				{"fieldName": "score", "dataType": "Float"},
				{"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar", "elementTypeParams": {"max_capacity": 4, "max_length": 8}},
				{"fieldName": "doc", "dataType": "JSON"}
			]
		},
		"indexParams": [{"fieldName": "vec", "indexName": "vidx", "metricType": "IP", "params": {"index_type": "HNSW", "M": 8, "efConstruction": 32}}],
		"params": {"consistencyLevel": "Strong"}
	}`
	ts.okPost(t, "/collections/create", create, nil)

	var idx []map[string]any
	ts.okPost(t, "/indexes/describe", map[string]any{"collectionName": "f", "indexName": "vidx"}, &idx)
	if len(idx) != 1 || idx[0]["indexType"] != "HNSW" || idx[0]["metricType"] != "IP" || idx[0]["indexState"] != "Finished" || idx[0]["fieldName"] != "vec" {
		t.Fatalf("index describe %v", idx)
	}
	var idxNames []string
	ts.okPost(t, "/indexes/list", map[string]any{"collectionName": "f"}, &idxNames)
	if !slices.Equal(idxNames, []string{"vidx"}) {
		t.Fatalf("index list %v", idxNames)
	}

	var rows []map[string]any
	for i := 0; i < 8; i++ {
		rows = append(rows, map[string]any{
			"pk": fmt.Sprintf("k%d", i), "vec": unitVec(i), "age": i * 10, "score": float64(i) + 0.5,
			"tags": []string{"a", fmt.Sprint(i)}, "doc": map[string]any{"i": i}, "extra": i % 3,
		})
	}
	var ins struct {
		InsertCount int
		InsertIds   []string
	}
	ts.okPost(t, "/entities/insert", map[string]any{"collectionName": "f", "data": rows}, &ins)
	if ins.InsertCount != 8 || ins.InsertIds[0] != "k0" {
		t.Fatalf("insert %+v", ins)
	}

	// Query with limit/offset and all fields.
	var q []map[string]any
	ts.okPost(t, "/entities/query", map[string]any{"collectionName": "f", "filter": "age >= 20", "limit": 2, "offset": 1, "outputFields": []string{"*"}}, &q)
	if len(q) != 2 {
		t.Fatalf("query %v", q)
	}
	for _, r := range q {
		for _, k := range []string{"pk", "vec", "age", "score", "tags", "doc", "extra"} {
			if _, has := r[k]; !has {
				t.Fatalf("query row lacks %q: %v", k, r)
			}
		}
	}
	var cnt []map[string]any
	ts.okPost(t, "/entities/query", map[string]any{"collectionName": "f", "outputFields": []string{"count(*)"}}, &cnt)
	if len(cnt) != 1 || cnt[0]["count(*)"] != float64(8) {
		t.Fatalf("count %v", cnt)
	}

	// Get by id (single and list).
	var got []map[string]any
	ts.okPost(t, "/entities/get", map[string]any{"collectionName": "f", "id": []string{"k1", "k3"}, "outputFields": []string{"age", "extra"}}, &got)
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]["pk"]) < fmt.Sprint(got[j]["pk"]) })
	if len(got) != 2 || got[0]["pk"] != "k1" || got[0]["age"] != float64(10) || got[1]["extra"] != float64(0) {
		t.Fatalf("get %v", got)
	}
	ts.okPost(t, "/entities/get", map[string]any{"collectionName": "f", "id": "k2"}, &got)
	if len(got) != 1 || got[0]["pk"] != "k2" {
		t.Fatalf("get single %v", got)
	}

	// Search with searchParams.
	env := ts.post(t, "/v2/vectordb/entities/search", map[string]any{
		"collectionName": "f", "data": [][]float32{unitVec(4), unitVec(5)}, "annsField": "vec", "limit": 2,
		"outputFields": []string{"age"}, "searchParams": map[string]any{"metricType": "IP", "params": map[string]any{"ef": 16}},
	})
	var hits []map[string]any
	env.decode(t, &hits)
	if len(hits) != 4 || !slices.Equal(env.Topks, []int64{2, 2}) || hits[0]["pk"] != "k4" || hits[2]["pk"] != "k5" || hits[0]["age"] != float64(40) {
		t.Fatalf("search %v topks %v", hits, env.Topks)
	}

	// Upsert, delete by filter and by id.
	var up struct {
		UpsertCount int
		UpsertIds   []string
	}
	rows[0]["age"] = 999
	ts.okPost(t, "/entities/upsert", map[string]any{"collectionName": "f", "data": rows[0]}, &up)
	if up.UpsertCount != 1 || up.UpsertIds[0] != "k0" {
		t.Fatalf("upsert %+v", up)
	}
	ts.okPost(t, "/entities/get", map[string]any{"collectionName": "f", "id": "k0", "outputFields": []string{"age"}}, &got)
	if len(got) != 1 || got[0]["age"] != float64(999) {
		t.Fatalf("after upsert %v", got)
	}
	var del struct{ DeleteCount int64 }
	ts.okPost(t, "/entities/delete", map[string]any{"collectionName": "f", "filter": `pk in ["k6", "k7"]`}, &del)
	if del.DeleteCount != 2 {
		t.Fatalf("delete by filter %+v", del)
	}
	ts.okPost(t, "/entities/delete", map[string]any{"collectionName": "f", "id": "k5"}, &del)
	if del.DeleteCount != 1 {
		t.Fatalf("delete by id %+v", del)
	}
	ts.okPost(t, "/entities/query", map[string]any{"collectionName": "f", "outputFields": []string{"count(*)"}}, &cnt)
	if cnt[0]["count(*)"] != float64(5) {
		t.Fatalf("count after deletes %v", cnt)
	}

	// Partitions.
	ts.okPost(t, "/partitions/create", map[string]any{"collectionName": "f", "partitionName": "p1"}, nil)
	var has struct{ Has bool }
	ts.okPost(t, "/partitions/has", map[string]any{"collectionName": "f", "partitionName": "p1"}, &has)
	if !has.Has {
		t.Fatal("partition has = false")
	}
	var parts []string
	ts.okPost(t, "/partitions/list", map[string]any{"collectionName": "f"}, &parts)
	if !slices.Contains(parts, "p1") || !slices.Contains(parts, "_default") {
		t.Fatalf("partitions %v", parts)
	}
	ts.okPost(t, "/entities/insert", map[string]any{"collectionName": "f", "partitionName": "p1",
		"data": map[string]any{"pk": "pp", "vec": unitVec(1), "age": 1, "score": 1, "tags": []string{}, "doc": 1}}, nil)
	ts.okPost(t, "/entities/query", map[string]any{"collectionName": "f", "partitionNames": []string{"p1"}, "filter": `pk != ""`, "outputFields": []string{"pk"}}, &q)
	if len(q) != 1 || q[0]["pk"] != "pp" {
		t.Fatalf("partition query %v", q)
	}
	ts.okPost(t, "/partitions/load", map[string]any{"collectionName": "f", "partitionNames": []string{"p1"}}, nil)
	ts.okPost(t, "/partitions/release", map[string]any{"collectionName": "f", "partitionNames": []string{"p1"}}, nil)
	ts.okPost(t, "/partitions/drop", map[string]any{"collectionName": "f", "partitionName": "p1"}, nil)
	if env := ts.post(t, "/v2/vectordb/partitions/load", map[string]any{"collectionName": "f", "partitionNames": []string{"p1"}}); env.Code != 200 {
		t.Fatalf("load dropped partition: %+v", env)
	}

	// Index drop and re-create.
	ts.okPost(t, "/indexes/drop", map[string]any{"collectionName": "f", "indexName": "vidx"}, nil)
	ts.okPost(t, "/indexes/create", map[string]any{"collectionName": "f", "indexParams": []map[string]any{
		{"fieldName": "vec", "metricType": "L2", "indexType": "FLAT"},
	}}, nil)
	ts.okPost(t, "/indexes/describe", map[string]any{"collectionName": "f", "indexName": "vec"}, &idx)
	if len(idx) != 1 || idx[0]["indexType"] != "FLAT" {
		t.Fatalf("re-created index %v", idx)
	}
	ts.okPost(t, "/collections/drop", map[string]any{"collectionName": "f"}, nil)
}
