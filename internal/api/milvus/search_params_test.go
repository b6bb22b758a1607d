package milvus

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

// encodePlaceholderGroup builds a FloatVector placeholder group.
func encodePlaceholderGroup(t testing.TB, vecs [][]float32) []byte {
	t.Helper()
	ph := &commonpb.PlaceholderValue{Tag: "$0", Type: commonpb.PlaceholderType_FloatVector}
	for _, v := range vecs {
		b := make([]byte, 4*len(v))
		for j, f := range v {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
		}
		ph.Values = append(ph.Values, b)
	}
	return marshalGroup(t, ph)
}

func marshalGroup(t testing.TB, phs ...*commonpb.PlaceholderValue) []byte {
	t.Helper()
	b, err := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: phs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSearchParamsFromSDK(t *testing.T) {
	vecs := []entity.Vector{entity.FloatVector{1, 2, 3, 4}, entity.FloatVector{-1, 0.5, 0, 7}}
	opt := milvusclient.NewSearchOption("c", 7, vecs).
		WithANNSField("vec").
		WithOffset(3).
		WithFilter("a > 1").
		WithAnnParam(index.NewHNSWAnnParam(64)).
		WithSearchParam("radius", "0.5")
	req, err := opt.Request()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := parseSearchParams(req.GetSearchParams())
	if err != nil {
		t.Fatal(err)
	}
	if sp.AnnsField != "vec" || sp.TopK != 7 || sp.Offset != 3 || sp.RoundDecimal != -1 || sp.IgnoreGrowing {
		t.Fatalf("parsed %+v", sp)
	}
	if sp.Params["ef"] != "64" || sp.Params["radius"] != "0.5" {
		t.Fatalf("params %v", sp.Params)
	}
	got, err := decodePlaceholderGroup(req.GetPlaceholderGroup(), req.GetNq(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0][2] != 3 || got[1][1] != 0.5 || got[1][3] != 7 {
		t.Fatalf("vectors %v", got)
	}
}

func TestParseSearchParams(t *testing.T) {
	kv := func(pairs ...string) []*commonpb.KeyValuePair {
		var out []*commonpb.KeyValuePair
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, &commonpb.KeyValuePair{Key: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	t.Run("full", func(t *testing.T) {
		sp, err := parseSearchParams(kv("anns_field", "v", "topk", "10", "metric_type", "IP",
			"params", `{"nprobe": 16, "radius": 0.25, "level": "x", "nested": {"a": 1}, "flag": true}`,
			"round_decimal", "3", "offset", "5", "ignore_growing", "true"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"nprobe": "16", "radius": "0.25", "level": "x", "nested": `{"a": 1}`, "flag": "true"}
		for k, v := range want {
			if sp.Params[k] != v {
				t.Errorf("params[%s] = %q, want %q", k, sp.Params[k], v)
			}
		}
		if sp.MetricType != "IP" || sp.TopK != 10 || sp.RoundDecimal != 3 || sp.Offset != 5 || !sp.IgnoreGrowing {
			t.Fatalf("parsed %+v", sp)
		}
	})
	t.Run("metric inside params and limit alias", func(t *testing.T) {
		sp, err := parseSearchParams(kv("limit", "4", "params", `{"metric_type":"L2","ef":32}`))
		if err != nil {
			t.Fatal(err)
		}
		if sp.MetricType != "L2" || sp.TopK != 4 || sp.Params["ef"] != "32" {
			t.Fatalf("parsed %+v", sp)
		}
		if _, leaked := sp.Params["metric_type"]; leaked {
			t.Fatal("metric_type left in params")
		}
	})
	bad := []struct {
		name string
		kvs  []*commonpb.KeyValuePair
		want *merr.Error
	}{
		{"missing topk", kv("anns_field", "v"), merr.ErrParameterMissing},
		{"bad topk", kv("topk", "ten"), merr.ErrParameterInvalid},
		{"bad offset", kv("topk", "1", "offset", "x"), merr.ErrParameterInvalid},
		{"bad round", kv("topk", "1", "round_decimal", "1.5"), merr.ErrParameterInvalid},
		{"bad growing", kv("topk", "1", "ignore_growing", "maybe"), merr.ErrParameterInvalid},
		{"bad params json", kv("topk", "1", "params", "{nope"), merr.ErrParameterInvalid},
		{"params not object", kv("topk", "1", "params", "[1]"), merr.ErrParameterInvalid},
		{"group size not int", kv("topk", "1", "group_by_field", "a", "group_size", "x"), merr.ErrParameterInvalid},
		{"group size zero", kv("topk", "1", "group_by_field", "a", "group_size", "0"), merr.ErrParameterInvalid},
		{"group size too big", kv("topk", "1", "group_by_field", "a", "group_size", "11"), merr.ErrParameterInvalid},
		{"group by iterator", kv("topk", "1", "group_by_field", "a", "iterator", "true"), merr.ErrParameterInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSearchParams(tc.kvs)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodePlaceholderGroup(t *testing.T) {
	good := encodePlaceholderGroup(t, [][]float32{{1, 2}, {3, 4}})
	if v, err := decodePlaceholderGroup(good, 2, 2); err != nil || len(v) != 2 || v[1][0] != 3 {
		t.Fatalf("good: %v %v", v, err)
	}
	if _, err := decodePlaceholderGroup(good, 0, 0); err != nil {
		t.Fatalf("nq/dim unknown: %v", err)
	}
	cases := []struct {
		name string
		b    []byte
		nq   int64
		dim  int
	}{
		{"empty", nil, 0, 0},
		{"garbage", []byte{0xff, 0xff, 0xff}, 0, 0},
		{"no placeholder", marshalGroup(t), 0, 0},
		{"two placeholders", marshalGroup(t,
			&commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{make([]byte, 8)}},
			&commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{make([]byte, 8)}}), 0, 0},
		{"wrong type", marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_SparseFloatVector, Values: [][]byte{make([]byte, 8)}}), 0, 0},
		{"no values", marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector}), 0, 0},
		{"length not multiple of 4", marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{make([]byte, 7)}}), 0, 0},
		{"empty vector", marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{{}}}), 0, 0},
		{"ragged dims", marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{make([]byte, 8), make([]byte, 12)}}), 0, 0},
		{"dim mismatch with field", good, 2, 3},
		{"nq mismatch", good, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodePlaceholderGroup(tc.b, tc.nq, tc.dim)
			if !errors.Is(err, merr.ErrParameterInvalid) {
				t.Fatalf("err = %v, want invalid parameter", err)
			}
			if st := merr.Status(err); st.GetCode() != 1100 {
				t.Fatalf("status code %d", st.GetCode())
			}
		})
	}
}

func FuzzDecodePlaceholderGroup(f *testing.F) {
	f.Add(encodePlaceholderGroup(f, [][]float32{{1, 2, 3}}), int64(1), 3)
	f.Add(encodePlaceholderGroup(f, [][]float32{{1}, {2}}), int64(0), 0)
	f.Add([]byte{0x0a, 0x02, 0x08, 0x65}, int64(2), 0)
	f.Add([]byte{}, int64(0), 0)
	f.Fuzz(func(t *testing.T, b []byte, nq int64, dim int) {
		vecs, err := decodePlaceholderGroup(b, nq, dim)
		if err != nil {
			if !errors.Is(err, merr.ErrParameterInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(vecs) == 0 {
			t.Fatal("no vectors and no error")
		}
		for _, v := range vecs {
			if len(v) != len(vecs[0]) || len(v) == 0 {
				t.Fatal("ragged or empty vectors accepted")
			}
			if dim > 0 && len(v) != dim {
				t.Fatal("dim mismatch accepted")
			}
		}
		if nq != 0 && int64(len(vecs)) != nq {
			t.Fatal("nq mismatch accepted")
		}
	})
}

func TestFlattenIndexParams(t *testing.T) {
	hnsw := milvusclient.NewCreateIndexOption("c", "v", index.NewHNSWIndex(entity.L2, 16, 200)).Request()
	p, err := flattenIndexParams(hnsw.GetExtraParams())
	if err != nil {
		t.Fatal(err)
	}
	if p["index_type"] != "HNSW" || p["metric_type"] != "L2" || p["M"] != "16" || p["efConstruction"] != "200" {
		t.Fatalf("hnsw params %v", p)
	}
	p, err = flattenIndexParams([]*commonpb.KeyValuePair{
		{Key: "index_type", Value: "IVF_FLAT"},
		{Key: "metric_type", Value: "IP"},
		{Key: "params", Value: `{"nlist": 128, "metric_type": "L2"}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p["nlist"] != "128" || p["metric_type"] != "IP" || p["index_type"] != "IVF_FLAT" {
		t.Fatalf("ivf params %v", p)
	}
	if _, has := p["params"]; has {
		t.Fatal("params key not flattened away")
	}
	if _, err := flattenIndexParams([]*commonpb.KeyValuePair{{Key: "params", Value: "oops"}}); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("bad params json: %v", err)
	}
}

// Binary, float16, bfloat16 and int8 placeholders go to the engine as bytes.
func TestDecodeRawPlaceholders(t *testing.T) {
	g := marshalGroup(t, &commonpb.PlaceholderValue{Type: commonpb.PlaceholderType_Float16Vector, Values: [][]byte{make([]byte, 8), make([]byte, 8)}})
	if _, err := decodePlaceholderGroup(g, 2, 0); !errors.Is(err, errRawPlaceholder) {
		t.Fatalf("float16 placeholder: %v", err)
	}
	v, typ, err := decodeRawPlaceholders(g, 2)
	if err != nil || len(v) != 2 || typ != schemapb.DataType_Float16Vector {
		t.Fatalf("raw: %v %v %v", v, typ, err)
	}
	if _, _, err := decodeRawPlaceholders(g, 3); err == nil {
		t.Fatal("nq 3 for 2 vectors accepted")
	}
}
