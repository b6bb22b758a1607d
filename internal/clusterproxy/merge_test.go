package clusterproxy

import (
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

func longCol(name string, v ...int64) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Int64, FieldName: name,
		Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: v}}}}}
}

func vecCol(name string, dim int64, v ...float32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_FloatVector, FieldName: name,
		Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: dim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: v}}}}}
}

func result(ids []int64, scores []float32, topks []int64, tags []int64) *milvuspb.SearchResults {
	return &milvuspb.SearchResults{Results: &schemapb.SearchResultData{NumQueries: int64(len(topks)), Topks: topks, Scores: scores,
		Ids:        &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: ids}}},
		FieldsData: []*schemapb.FieldData{longCol("tag", tags...)}}}
}

// TestMergeSearch: two groups, two queries; L2 (smaller first) and IP
// (larger first), with offset; ties broken by primary key; output fields
// follow their hits.
func TestMergeSearch(t *testing.T) {
	a := result([]int64{1, 2, 3, 10}, []float32{0.1, 0.5, 0.9, 0.3}, []int64{3, 1}, []int64{101, 102, 103, 110})
	b := result([]int64{4, 5, 11, 12}, []float32{0.2, 0.5, 0.1, 0.4}, []int64{2, 2}, []int64{104, 105, 111, 112})
	got, err := mergeSearch([]*milvuspb.SearchResults{a, b}, 2, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	// q0 sorted: 1(.1) 4(.2) 2(.5) 5(.5) 3(.9) -> offset 1, top 2: 4, 2
	// q1 sorted: 11(.1) 10(.3) 12(.4) -> offset 1, top 2: 10, 12
	wantIDs := []int64{4, 2, 10, 12}
	if ids := got.Ids.GetIntId().Data; !slices.Equal(ids, wantIDs) {
		t.Fatalf("ids %v, want %v", ids, wantIDs)
	}
	if !slices.Equal(got.Topks, []int64{2, 2}) || !slices.Equal(got.Scores, []float32{0.2, 0.5, 0.3, 0.4}) {
		t.Fatalf("topks %v scores %v", got.Topks, got.Scores)
	}
	if tags := got.FieldsData[0].GetScalars().GetLongData().Data; !slices.Equal(tags, []int64{104, 102, 110, 112}) {
		t.Fatalf("tags %v", tags)
	}
	got, _ = mergeSearch([]*milvuspb.SearchResults{a, b}, 3, 0, true)
	// IP q0: 3(.9) then 2(.5) and 5(.5) tie -> pk order 2, 5.
	if ids := got.Ids.GetIntId().Data[:3]; !slices.Equal(ids, []int64{3, 2, 5}) {
		t.Fatalf("IP ids %v", ids)
	}
}

func TestPickRowsVectorsAndScalars(t *testing.T) {
	s0 := []*schemapb.FieldData{longCol("id", 1, 2), vecCol("v", 2, 1, 1, 2, 2)}
	s1 := []*schemapb.FieldData{vecCol("v", 2, 3, 3), longCol("id", 3)} // other column order
	out, err := pickRows([][]*schemapb.FieldData{s0, s1}, []pick{{1, 0}, {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := out[0].GetScalars().GetLongData().Data; !slices.Equal(ids, []int64{3, 2}) {
		t.Fatalf("ids %v", ids)
	}
	if v := out[1].GetVectors().GetFloatVector().Data; !slices.Equal(v, []float32{3, 3, 2, 2}) {
		t.Fatalf("vectors %v", v)
	}
	if numRows(out) != 2 {
		t.Fatalf("numRows %d", numRows(out))
	}
	if _, err := pickRows([][]*schemapb.FieldData{s0, {longCol("id", 3)}}, []pick{{1, 0}}); err == nil {
		t.Fatal("a field missing from one source must be an error")
	}
}
