package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/wal"
)

// nullSchema: id, vec(2), n (nullable Int64), d (Int32 default 7),
// s (nullable VarChar default "x"), j (nullable JSON), a (nullable Int64 array).
func nullSchema(name string) *schemapb.CollectionSchema {
	return &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", "2")}},
		{Name: "n", DataType: schemapb.DataType_Int64, Nullable: true},
		{Name: "d", DataType: schemapb.DataType_Int32, DefaultValue: &schemapb.ValueField{Data: &schemapb.ValueField_IntData{IntData: 7}}},
		{Name: "s", DataType: schemapb.DataType_VarChar, Nullable: true, TypeParams: []*commonpb.KeyValuePair{kv("max_length", "8")},
			DefaultValue: &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: "x"}}},
		{Name: "j", DataType: schemapb.DataType_JSON, Nullable: true},
		{Name: "a", DataType: schemapb.DataType_Array, ElementType: schemapb.DataType_Int64, Nullable: true,
			TypeParams: []*commonpb.KeyValuePair{kv("max_capacity", "4")}},
	}}
}

func withValid(fd *schemapb.FieldData, v ...bool) *schemapb.FieldData { fd.ValidData = v; return fd }

func int32Field(name string, v []int32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Int32, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: v}}}}}
}

func setupNull(t *testing.T, e *Engine, name string) {
	t.Helper()
	if err := e.CreateCollection(bg, "", nullSchema(name), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateIndex(bg, "", name, "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "L2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", name); err != nil {
		t.Fatal(err)
	}
}

func queryCol(t *testing.T, e *Engine, coll, filter, field string) *schemapb.FieldData {
	t.Helper()
	res, err := e.Query(bg, &QueryRequest{Collection: coll, Filter: filter, OutputFields: []string{field}})
	if err != nil {
		t.Fatalf("query %q: %v", filter, err)
	}
	for _, fd := range res {
		if fd.FieldName == field {
			return fd
		}
	}
	t.Fatalf("no column %s", field)
	return nil
}

func TestNullableInsertQuery(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	setupNull(t, e, "c")
	// Rows 1..4: n null at 2 and 4 (compact values), d default at 3,
	// s null at 1 (-> default "x"), j null at 4, a left out (all null).
	fields := []*schemapb.FieldData{
		longField("id", []int64{1, 2, 3, 4}),
		vecField("vec", 2, []float32{1, 0, 0, 1, 1, 1, 2, 2}),
		withValid(longField("n", []int64{10, 30}), true, false, true, false),
		withValid(int32Field("d", []int32{1, 2, 4}), true, true, false, true),
		withValid(strField("s", []string{"b", "c", "d"}), false, true, true, true),
		withValid(jsonField("j", [][]byte{[]byte(`{"k":1}`), []byte(`2`), []byte(`"z"`)}, false), true, true, true, false),
	}
	if _, err := e.Insert(bg, "", "c", "", fields, 4); err != nil {
		t.Fatal(err)
	}
	check := func(e *Engine) {
		t.Helper()
		n := queryCol(t, e, "c", "id > 0", "n")
		if got := n.GetScalars().GetLongData().GetData(); len(got) != 4 || got[0] != 10 || got[2] != 30 {
			t.Fatalf("n data %v", got)
		}
		if v := n.ValidData; len(v) != 4 || !v[0] || v[1] || !v[2] || v[3] {
			t.Fatalf("n valid %v", v)
		}
		d := queryCol(t, e, "c", "id > 0", "d")
		if got := d.GetScalars().GetIntData().GetData(); len(got) != 4 || got[2] != 7 || got[3] != 4 || len(d.ValidData) != 0 {
			t.Fatalf("d %v %v", got, d.ValidData)
		}
		s := queryCol(t, e, "c", "id > 0", "s")
		if got := s.GetScalars().GetStringData().GetData(); strings.Join(got, ",") != "x,b,c,d" {
			t.Fatalf("s %v", got)
		}
		if v := s.ValidData; len(v) != 4 || !v[0] {
			t.Fatalf("s valid %v", v)
		}
		a := queryCol(t, e, "c", "id > 0", "a")
		if v := a.ValidData; len(v) != 4 || v[0] || v[3] {
			t.Fatalf("a valid %v", v)
		}
		for _, c := range []struct {
			filter string
			want   int
		}{
			{"n is null", 2}, {"n IS NOT NULL", 2}, {"n > 0", 2}, {"n != 10", 1}, {"not (n == 10)", 1},
			{"n not in [10]", 1}, {"j is null", 1}, {"a is null", 4}, {"d == 7", 1}, {`s == "x"`, 1},
		} {
			res, err := e.Query(bg, &QueryRequest{Collection: "c", Filter: c.filter, OutputFields: []string{"count(*)"}})
			if err != nil {
				t.Fatalf("%s: %v", c.filter, err)
			}
			if got := res[0].GetScalars().GetLongData().GetData()[0]; got != int64(c.want) {
				t.Errorf("%s: %d rows, want %d", c.filter, got, c.want)
			}
		}
	}
	check(e)
	d1 := mustDigest(t, e)
	if err := e.Flush(bg, "", []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, e) != d1 {
		t.Fatal("digest changed by flush")
	}
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	check(e)
	if mustDigest(t, e) != d1 {
		t.Fatal("digest changed by restart")
	}
}

func TestNullableRefusals(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	setupNull(t, e, "c")
	base := func() []*schemapb.FieldData {
		return []*schemapb.FieldData{longField("id", []int64{1, 2}), vecField("vec", 2, []float32{1, 0, 0, 1})}
	}
	for _, c := range []struct {
		name  string
		extra *schemapb.FieldData
		want  string
	}{
		{"valid data wrong length", withValid(longField("n", []int64{1}), true), "the length of valid_data of field(n) is wrong"},
		{"values do not match valid", withValid(longField("n", []int64{1, 2}), true, false), "the length of field is wrong"},
		{"default without valid data", int32Field("d", []int32{1, 2}), "the length of valid_data of field(d) is wrong"},
	} {
		_, err := e.Insert(bg, "", "c", "", append(base(), c.extra), 2)
		if merr.Code(err) != merr.ErrParameterInvalid.Code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A field that is neither nullable nor defaulted takes no valid_data.
	s := testSchema("plain", 2, false, false, false)
	if err := e.CreateCollection(bg, "", s, CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	fs := []*schemapb.FieldData{longField("id", []int64{1}), vecField("vec", 2, []float32{1, 0}),
		withValid(longField("age", []int64{1}), true), strField("tag", []string{"a"}), floatField("score", []float32{1}),
		jsonField("doc", [][]byte{[]byte("{}")}, false)}
	if _, err := e.Insert(bg, "", "plain", "", fs, 1); err == nil || !strings.Contains(err.Error(), "the length of valid_data of field(age) is wrong") {
		t.Errorf("not nullable: %v", err)
	}

	bad := func(mod func(*schemapb.CollectionSchema)) error {
		s := nullSchema("bad")
		mod(s)
		return e.CreateCollection(bg, "", s, CreateCollectionOptions{})
	}
	for _, c := range []struct {
		name string
		mod  func(*schemapb.CollectionSchema)
		want string
	}{
		{"nullable vector", func(s *schemapb.CollectionSchema) { s.Fields[1].Nullable = true }, "vector type not support null"},
		{"nullable pk", func(s *schemapb.CollectionSchema) { s.Fields[0].Nullable = true }, "primary field not support null"},
		{"pk default", func(s *schemapb.CollectionSchema) {
			s.Fields[0].DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_LongData{LongData: 1}}
		}, "primary key can't be with default value"},
		{"type mismatch", func(s *schemapb.CollectionSchema) {
			s.Fields[2].DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: "1"}}
		}, "default value type mismatches field schema type"},
		{"too long", func(s *schemapb.CollectionSchema) {
			s.Fields[4].DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: "123456789"}}
		}, "the length (9) of string exceeds max length (8)"},
		{"int8 range", func(s *schemapb.CollectionSchema) {
			s.Fields[3].DataType = schemapb.DataType_Int8
		}, ""},
		{"array default", func(s *schemapb.CollectionSchema) {
			s.Fields[6].DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_LongData{LongData: 1}}
		}, "default value type mismatches field schema type"},
	} {
		err := bad(c.mod)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			_ = e.DropCollection(bg, "", "bad")
			continue
		}
		if merr.Code(err) != merr.ErrParameterInvalid.Code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestAddFieldAndAlter(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	setupColl(t, e, "c", 2, "L2", false, false, false)
	ins := func(e *Engine, ids []int64, extra ...*schemapb.FieldData) {
		t.Helper()
		n := len(ids)
		vecs := make([]float32, 2*n)
		fs := []*schemapb.FieldData{longField("id", ids), vecField("vec", 2, vecs),
			longField("age", ids), strField("tag", make([]string, n)), floatField("score", make([]float32, n)),
			jsonField("doc", fill(n, []byte("{}")), false)}
		if _, err := e.Insert(bg, "", "c", "", append(fs, extra...), n); err != nil {
			t.Fatal(err)
		}
	}
	ins(e, seq(0, 150)) // one sealed segment (100 rows) and a growing one
	if err := e.Flush(bg, "", []string{"c"}); err != nil {
		t.Fatal(err)
	}
	ins(e, seq(150, 10))
	// Refusals.
	for _, c := range []struct {
		f    *schemapb.FieldSchema
		want string
	}{
		{&schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_Int64}, "added field must be nullable, please check it, field name = x"},
		{&schemapb.FieldSchema{Name: "age", DataType: schemapb.DataType_Int64, Nullable: true}, "duplicate field name: age"},
		{&schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_Int64, Nullable: true, IsPartitionKey: true}, "not support to add partition key field"},
		{&schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_FloatVector, Nullable: true}, "vector field must have dimension specified, field name = x"},
		{&schemapb.FieldSchema{Name: "x", DataType: schemapb.DataType_VarChar, Nullable: true}, "type param(max_length) should be specified for the field(x) of collection c"},
	} {
		err := e.AddCollectionField(bg, "", "c", c.f)
		if merr.Code(err) != merr.ErrParameterInvalid.Code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.want, err)
		}
	}
	if err := e.AddCollectionField(bg, "", "c", &schemapb.FieldSchema{Name: "n", DataType: schemapb.DataType_Int64, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.AddCollectionField(bg, "", "c", &schemapb.FieldSchema{Name: "d", DataType: schemapb.DataType_VarChar, Nullable: true,
		TypeParams:   []*commonpb.KeyValuePair{kv("max_length", "4")},
		DefaultValue: &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: "dd"}}}); err != nil {
		t.Fatal(err)
	}
	ins(e, []int64{200, 201}, withValid(longField("n", []int64{5}), false, true))
	ins(e, []int64{202}) // new fields left out
	if err := e.AlterCollectionProperties(bg, "", "c", []*commonpb.KeyValuePair{kv("collection.ttl.seconds", "3600")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.AlterCollectionProperties(bg, "", "c", []*commonpb.KeyValuePair{kv("mmap.enabled", "true")}, nil); merr.Code(err) != 104 ||
		!strings.Contains(err.Error(), "can not alter mmap properties if collection loaded") {
		t.Errorf("mmap while loaded: %v", err)
	}
	if err := e.AlterCollectionProperties(bg, "", "c", []*commonpb.KeyValuePair{kv("collection.ttl.seconds", "x")}, nil); !strings.Contains(fmt.Sprint(err), "collection TTL is not a valid positive integer") {
		t.Errorf("bad ttl: %v", err)
	}
	if err := e.AlterCollectionField(bg, "", "c", "tag", []*commonpb.KeyValuePair{kv("max_length", "32")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.AlterCollectionField(bg, "", "c", "age", []*commonpb.KeyValuePair{kv("max_length", "32")}, nil); !strings.Contains(fmt.Sprint(err), "age can not modify the maxlength for non-string types") {
		t.Errorf("max_length on int: %v", err)
	}
	if err := e.AlterCollectionField(bg, "", "c", "tag", []*commonpb.KeyValuePair{kv("nullable", "true")}, nil); !strings.Contains(fmt.Sprint(err), "nullable does not allow update in collection field param") {
		t.Errorf("nullable: %v", err)
	}
	check := func(e *Engine) {
		t.Helper()
		info, err := e.DescribeCollection("", "c")
		if err != nil {
			t.Fatal(err)
		}
		fs := info.Schema.Fields
		if len(fs) != 8 || fs[6].Name != "n" || fs[6].FieldID != 106 || fs[7].Name != "d" {
			t.Fatalf("fields %v", fs)
		}
		if v, _ := typeParam(fs[3], "max_length"); v != "32" {
			t.Fatalf("max_length %q", v)
		}
		if !sameKVs(info.Properties, []*commonpb.KeyValuePair{kv("collection.ttl.seconds", "3600")}) {
			t.Fatalf("props %v", info.Properties)
		}
		for _, c := range []struct {
			filter string
			want   int64
		}{{"n is null", 162}, {"n == 5", 1}, {`d == "dd"`, 163}, {"n is not null", 1}} {
			res, err := e.Query(bg, &QueryRequest{Collection: "c", Filter: c.filter, OutputFields: []string{"count(*)"}})
			if err != nil {
				t.Fatalf("%s: %v", c.filter, err)
			}
			if got := res[0].GetScalars().GetLongData().GetData()[0]; got != c.want {
				t.Errorf("%s: %d, want %d", c.filter, got, c.want)
			}
		}
		n := queryCol(t, e, "c", "id in [0, 201]", "n")
		if v := n.ValidData; len(v) != 2 || v[0] || !v[1] {
			t.Fatalf("n valid %v", v)
		}
	}
	check(e)
	d1 := mustDigest(t, e)
	e.Close()
	e = openTest(t, dir, nil)
	check(e)
	if mustDigest(t, e) != d1 {
		t.Fatal("digest changed by restart (WAL replay)")
	}
	if err := e.Flush(bg, "", []string{"c"}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openTest(t, dir, nil)
	defer e.Close()
	check(e)
	if mustDigest(t, e) != d1 {
		t.Fatal("digest changed by restart (checkpoint)")
	}
	if err := e.AlterCollectionProperties(bg, "", "c", nil, []string{"collection.ttl.seconds"}); err != nil {
		t.Fatal(err)
	}
	info, _ := e.DescribeCollection("", "c")
	if len(info.Properties) != 0 {
		t.Fatalf("props after drop: %v", info.Properties)
	}
}

// TestSchemaChangeReplicates: a standby applying the active's records
// (with another segment layout) reaches the same digest after nullable
// inserts, field additions and property changes, also after reopening.
func TestSchemaChangeReplicates(t *testing.T) {
	a := openTest(t, t.TempDir(), func(c *Config) { c.SegmentMaxRows = 7 })
	defer a.Close()
	setupNull(t, a, "c")
	digests := map[uint64]string{}
	mark := func() { digests[a.LastLSN()] = mustDigest(t, a) }
	for i := 0; i < 5; i++ {
		ids := seq(i*10, 10)
		valid := make([]bool, 10)
		var vals []int64
		for j := range valid {
			valid[j] = (i+j)%3 != 0
			if valid[j] {
				vals = append(vals, int64(j))
			}
		}
		fs := []*schemapb.FieldData{longField("id", ids), vecField("vec", 2, make([]float32, 20)),
			withValid(longField("n", vals), valid...)}
		if _, err := a.Insert(bg, "", "c", "", fs, 10); err != nil {
			t.Fatal(err)
		}
		mark()
		switch i {
		case 1:
			if err := a.Flush(bg, "", nil); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := a.AddCollectionField(bg, "", "c", &schemapb.FieldSchema{Name: fmt.Sprintf("f%d", i), DataType: schemapb.DataType_Double,
				Nullable: true, DefaultValue: &schemapb.ValueField{Data: &schemapb.ValueField_DoubleData{DoubleData: 1.5}}}); err != nil {
				t.Fatal(err)
			}
			mark()
		case 3:
			if err := a.AlterCollectionProperties(bg, "", "c", []*commonpb.KeyValuePair{kv("collection.ttl.seconds", "60")}, nil); err != nil {
				t.Fatal(err)
			}
			if err := a.AlterCollectionField(bg, "", "c", "s", []*commonpb.KeyValuePair{kv("max_length", "100")}, nil); err != nil {
				t.Fatal(err)
			}
			mark()
		}
	}
	var recs []wal.Record
	if err := a.IterateWAL(1, func(r wal.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	dirB := t.TempDir()
	b := openTest(t, dirB, func(c *Config) { c.SegmentMaxRows = 1000 })
	for _, r := range recs {
		if err := b.ApplyRecord(r); err != nil {
			t.Fatalf("apply lsn %d (%s): %v", r.LSN, RecordTypeName(r.Type), err)
		}
		if want, ok := digests[r.LSN]; ok {
			if err := b.WaitDurable(bg, r.LSN); err != nil {
				t.Fatal(err)
			}
			if got := mustDigest(t, b); got != want {
				t.Fatalf("digest differs at lsn %d", r.LSN)
			}
		}
	}
	final := mustDigest(t, b)
	if final != mustDigest(t, a) {
		t.Fatal("final digests differ")
	}
	b.Close()
	b = openTest(t, dirB, nil)
	defer b.Close()
	if mustDigest(t, b) != final {
		t.Fatal("digest differs after reopen")
	}
}

// FuzzDecodeNullableCol: decodeCol never panics on any bytes, and a
// nullable column round-trips.
func FuzzDecodeNullableCol(f *testing.F) {
	for _, c := range []colData{
		{fieldID: 101, typ: schemapb.DataType_Int64, data: []int64{1, 0, 3}, valid: []bool{true, false, true}},
		{fieldID: 102, typ: schemapb.DataType_JSON, data: [][]byte{[]byte("1"), nil, nil}, valid: []bool{true, false, false}},
		{fieldID: 103, typ: schemapb.DataType_VarChar, data: []string{"a", "b", ""}},
	} {
		w := &enc{}
		if err := encodeCol(w, c, 3); err != nil {
			f.Fatal(err)
		}
		f.Add(w.b, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		r := &dec{b: b}
		c := decodeCol(r, int(n))
		if r.err != nil {
			return
		}
		if c.valid != nil && len(c.valid) != int(n) {
			t.Fatalf("valid has %d rows, want %d", len(c.valid), n)
		}
		w := &enc{}
		if c.data == nil {
			return
		}
		if c.typ == schemapb.DataType_FloatVector {
			return
		}
		if err := encodeCol(w, c, int(n)); err != nil {
			return
		}
		c2 := decodeCol(&dec{b: w.b}, int(n))
		if !slices.Equal(c.valid, c2.valid) {
			t.Fatalf("validity changed by a round trip")
		}
	})
}
