package engine

import (
	"encoding/json"
	"math/rand"
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

func TestCatalogBasics(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	s := testSchema("c1", 4, false, false, true)
	if err := e.CreateCollection(bg, "", s, CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	// Idempotent create; different schema fails.
	if err := e.CreateCollection(bg, "default", testSchema("c1", 4, false, false, true), CreateCollectionOptions{}); err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	if err := e.CreateCollection(bg, "", testSchema("c1", 8, false, false, true), CreateCollectionOptions{}); merr.Code(err) != merr.ErrParameterInvalid.Code {
		t.Fatalf("different schema: %v", err)
	}
	info, err := e.DescribeCollection("", "c1")
	if err != nil {
		t.Fatal(err)
	}
	fs := info.Schema.Fields
	if len(fs) != 7 || fs[0].FieldID != 100 || fs[6].Name != "$meta" || !fs[6].IsDynamic || fs[6].FieldID != 106 {
		t.Fatalf("schema fields: %v", fs)
	}
	if len(info.Partitions) != 1 || info.Partitions[0].Name != DefaultPartition {
		t.Fatalf("partitions: %v", info.Partitions)
	}
	if _, err := e.DescribeCollection("", "nope"); merr.Code(err) != 100 {
		t.Fatalf("not found code: %v", err)
	}
	if _, err := e.DescribeCollection("otherdb", "c1"); merr.Code(err) != merr.ErrDatabaseNotFound.Code {
		t.Fatalf("db: %v", err)
	}
	if err := e.CreatePartition(bg, "", "c1", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreatePartition(bg, "", "c1", "p1"); err != nil {
		t.Fatal(err)
	}
	ps, _ := e.ListPartitions("", "c1")
	if len(ps) != 2 || ps[1].Name != "p1" {
		t.Fatalf("partitions: %v", ps)
	}
	// Load without an index fails with Milvus's wording.
	err = e.LoadCollection(bg, "", "c1")
	if merr.Code(err) != merr.ErrIndexNotFound.Code {
		t.Fatalf("load without index: %v", err)
	}
	if want := "there is no vector index on field: [vec], please create index firstly"; !contains(err.Error(), want) {
		t.Fatalf("load error text: %v", err)
	}
	if err := e.CreateIndex(bg, "", "c1", "vec", "", map[string]string{"index_type": "HNSW", "M": "16"}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, "", "c1", "vec", "", map[string]string{"index_type": "HNSW", "M": "16"}); err != nil {
		t.Fatalf("idempotent index: %v", err)
	}
	if err := e.CreateIndex(bg, "", "c1", "vec", "", map[string]string{"index_type": "IVF_FLAT"}); merr.Code(err) != merr.ErrIndexDuplicate.Code {
		t.Fatalf("different index: %v", err)
	}
	if err := e.CreateIndex(bg, "", "c1", "age", "", map[string]string{"index_type": "DISKANN"}); merr.Code(err) != merr.ErrIndexNotSupported.Code {
		t.Fatalf("unsupported index: %v", err)
	}
	ixs, err := e.DescribeIndex("", "c1", "", "")
	if err != nil || len(ixs) != 1 || ixs[0].Params["metric_type"] != "COSINE" || ixs[0].IndexName != "vec" || ixs[0].State != commonpb.IndexState_Finished {
		t.Fatalf("describe index: %v %v", ixs, err)
	}
	if _, err := e.Search(bg, &SearchRequest{Collection: "c1", Vectors: [][]float32{{1, 0, 0, 0}}, TopK: 1}); merr.Code(err) != 101 {
		t.Fatalf("search unloaded: %v", err)
	}
	if err := e.LoadCollection(bg, "", "c1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.GetLoadState("", "c1"); st != commonpb.LoadState_LoadStateLoaded {
		t.Fatalf("load state %v", st)
	}
	if err := e.DropIndex(bg, "", "c1", "vec", ""); err == nil {
		t.Fatal("drop index while loaded")
	}
	if err := e.ReleaseCollection(bg, "", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropIndex(bg, "", "c1", "vec", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DescribeIndex("", "c1", "", ""); merr.Code(err) != merr.ErrIndexNotFound.Code {
		t.Fatalf("describe dropped index: %v", err)
	}
	if err := e.DropPartition(bg, "", "c1", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropCollection(bg, "", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropCollection(bg, "", "c1"); err != nil {
		t.Fatalf("drop twice: %v", err)
	}
	if l, _ := e.ListCollections(""); len(l) != 0 {
		t.Fatalf("list after drop: %v", l)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestInsertQuerySearchBasics(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	const dim = 8
	setupColl(t, e, "c", dim, "L2", false, true, true)
	r := rand.New(rand.NewSource(1))
	b := genBatch(r, seq(0, 250), dim, false)
	ids, err := e.Insert(bg, "", "c", "", b.fields(dim, false, false, true), 250)
	if err != nil {
		t.Fatal(err)
	}
	got := ids.GetIntId().GetData()
	if len(got) != 250 || got[1] != got[0]+1 || got[0] <= 0 {
		t.Fatalf("auto ids: %v...", got[:3])
	}
	st, _ := e.CollectionStats("", "c")
	if st.RowCount != 250 {
		t.Fatalf("row count %d", st.RowCount)
	}
	// count(*)
	res, err := e.Query(bg, &QueryRequest{Collection: "c", OutputFields: []string{"count(*)"}})
	if err != nil || res[0].GetScalars().GetLongData().GetData()[0] != 250 {
		t.Fatalf("count: %v %v", res, err)
	}
	res, err = e.Query(bg, &QueryRequest{Collection: "c", Filter: "age < 50 and tag == \"red\"", OutputFields: []string{"count(*)"}})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	for i := range b.ages {
		if b.ages[i] < 50 && b.tags[i] == "red" {
			want++
		}
	}
	if n := res[0].GetScalars().GetLongData().GetData()[0]; n != want {
		t.Fatalf("filtered count %d want %d", n, want)
	}
	// Query by pk, output dynamic key and $meta.
	q := "id in [" + itoa(got[3]) + "," + itoa(got[7]) + "]"
	res, err = e.Query(bg, &QueryRequest{Collection: "c", Filter: q, OutputFields: []string{"age", "color"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].FieldName != "id" || res[1].FieldName != "age" || res[2].FieldName != "$meta" || !res[2].IsDynamic {
		t.Fatalf("query output: %v", res)
	}
	if ages := res[1].GetScalars().GetLongData().GetData(); !slices.Equal(ages, []int64{b.ages[3], b.ages[7]}) {
		t.Fatalf("ages %v", ages)
	}
	var m map[string]any
	if err := json.Unmarshal(res[2].GetScalars().GetJsonData().GetData()[0], &m); err != nil || len(m) != 1 || m["color"] == nil {
		t.Fatalf("dynamic key output: %s", res[2].GetScalars().GetJsonData().GetData()[0])
	}
	// Dynamic filter.
	res, err = e.Query(bg, &QueryRequest{Collection: "c", Filter: `color == "red"`, OutputFields: []string{"count(*)"}})
	if err != nil {
		t.Fatal(err)
	}
	want = 0
	for _, d := range b.dyn {
		if contains(string(d), `"red"`) {
			want++
		}
	}
	if n := res[0].GetScalars().GetLongData().GetData()[0]; n != want {
		t.Fatalf("dynamic count %d want %d", n, want)
	}
	// Limit / offset.
	res, err = e.Query(bg, &QueryRequest{Collection: "c", Limit: 5, Offset: 10, OutputFields: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if pks := res[0].GetScalars().GetLongData().GetData(); !slices.Equal(pks, got[10:15]) {
		t.Fatalf("limit/offset pks %v want %v", pks, got[10:15])
	}
	if len(res) != 7 {
		t.Fatalf("* outputs %d fields", len(res))
	}
	// Search self: nearest is itself at distance 0.
	sr, err := e.Search(bg, &SearchRequest{Collection: "c", Vectors: [][]float32{b.vecs[5*dim : 6*dim]}, TopK: 3, OutputFields: []string{"tag", "vec"}, RoundDecimal: -1})
	if err != nil {
		t.Fatal(err)
	}
	if sr.Ids.GetIntId().GetData()[0] != got[5] || sr.Scores[0] != 0 || sr.Topks[0] != 3 {
		t.Fatalf("search self: %v %v", sr.Ids, sr.Scores)
	}
	if len(sr.FieldsData) != 2 || fieldNamed(sr.FieldsData, "tag").GetScalars().GetStringData().GetData()[0] != b.tags[5] ||
		!slices.Equal(fieldNamed(sr.FieldsData, "vec").GetVectors().GetFloatVector().GetData()[:dim], b.vecs[5*dim:6*dim]) {
		t.Fatalf("search outputs: %v", sr.FieldsData)
	}
	if _, err := e.Search(bg, &SearchRequest{Collection: "c", Vectors: [][]float32{b.vecs[:dim]}, TopK: 3, MetricType: "IP"}); err == nil ||
		err.Error() != "metric type not match: invalid parameter[expected=L2][actual=IP]" {
		t.Fatalf("metric mismatch: %v", err)
	}
	// Delete by expression.
	n, err := e.Delete(bg, "", "c", "", "age >= 50")
	if err != nil {
		t.Fatal(err)
	}
	live := int64(0)
	for _, a := range b.ages {
		if a < 50 {
			live++
		}
	}
	if n != 250-live {
		t.Fatalf("deleted %d want %d", n, 250-live)
	}
	st, _ = e.CollectionStats("", "c")
	if st.RowCount != live {
		t.Fatalf("rows after delete %d want %d", st.RowCount, live)
	}
}

func itoa(v int64) string { return jsonNum(v) }

func jsonNum(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUpsertReplaces(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	const dim = 4
	setupColl(t, e, "u", dim, "IP", true, false, false)
	r := rand.New(rand.NewSource(2))
	b := genBatch(r, seq(0, 10), dim, true)
	if _, err := e.Insert(bg, "", "u", "", b.fields(dim, true, true, false), 10); err != nil {
		t.Fatal(err)
	}
	b2 := genBatch(r, seq(5, 10), dim, true)
	for i := range b2.ages {
		b2.ages[i] = 1000
	}
	if _, err := e.Upsert(bg, "", "u", "", b2.fields(dim, true, true, false), 10); err != nil {
		t.Fatal(err)
	}
	st, _ := e.CollectionStats("", "u")
	if st.RowCount != 15 {
		t.Fatalf("rows %d", st.RowCount)
	}
	res, err := e.Query(bg, &QueryRequest{Collection: "u", Filter: `id in ["k5", "k14", "k3"]`, OutputFields: []string{"age"}})
	if err != nil {
		t.Fatal(err)
	}
	pks := res[0].GetScalars().GetStringData().GetData()
	ages := res[1].GetScalars().GetLongData().GetData()
	// Primary-key order (bytewise for VarChar keys), as Milvus answers.
	if !slices.Equal(pks, []string{"k14", "k3", "k5"}) || !slices.Equal(ages, []int64{1000, b.ages[3], 1000}) {
		t.Fatalf("after upsert: %v %v", pks, ages)
	}
}

func TestPartitionsAndDrop(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	const dim = 4
	setupColl(t, e, "p", dim, "COSINE", false, false, false)
	if err := e.ReleaseCollection(bg, "", "p"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreatePartition(bg, "", "p", "a"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(3))
	ba := genBatch(r, seq(0, 20), dim, false)
	bb := genBatch(r, seq(100, 20), dim, false)
	if _, err := e.Insert(bg, "", "p", "a", ba.fields(dim, true, false, false), 20); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Insert(bg, "", "p", "", bb.fields(dim, true, false, false), 20); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Insert(bg, "", "p", "zz", bb.fields(dim, true, false, false), 20); merr.Code(err) != merr.ErrPartitionNotFound.Code {
		t.Fatalf("missing partition: %v", err)
	}
	if err := e.LoadCollection(bg, "", "p"); err != nil {
		t.Fatal(err)
	}
	res, err := e.Query(bg, &QueryRequest{Collection: "p", Partitions: []string{"a"}, OutputFields: []string{"count(*)"}})
	if err != nil || res[0].GetScalars().GetLongData().GetData()[0] != 20 {
		t.Fatalf("partition count %v %v", res, err)
	}
	// Delete in the wrong partition deletes nothing.
	if n, err := e.Delete(bg, "", "p", DefaultPartition, "id in [1,2,3]"); err != nil || n != 0 {
		t.Fatalf("delete wrong partition: %d %v", n, err)
	}
	if err := e.DropPartition(bg, "", "p", "a"); err == nil {
		t.Fatal("drop partition of loaded collection")
	}
	_ = e.ReleaseCollection(bg, "", "p")
	if err := e.DropPartition(bg, "", "p", "a"); err != nil {
		t.Fatal(err)
	}
	st, _ := e.CollectionStats("", "p")
	if st.RowCount != 20 {
		t.Fatalf("rows after drop partition: %d", st.RowCount)
	}
	// Keys of the dropped partition can be inserted again.
	if _, err := e.Insert(bg, "", "p", "", ba.fields(dim, true, false, false), 20); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.CollectionStats("", "p"); st.RowCount != 40 {
		t.Fatalf("rows %d", st.RowCount)
	}
	if err := e.DropPartition(bg, "", "p", DefaultPartition); err == nil {
		t.Fatal("dropped default partition")
	}
}

func fieldNamed(fds []*schemapb.FieldData, name string) *schemapb.FieldData {
	for _, fd := range fds {
		if fd.FieldName == name {
			return fd
		}
	}
	return nil
}
