package milvus

import (
	"context"
	"errors"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// countStar is the output field that makes a query count rows.
const countStar = "count(*)"

// Search runs an ANN search: query vectors from the placeholder group,
// parameters from the key-value search params, filter from Dsl.
func (s *Server) Search(ctx context.Context, req *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
	fail := func(err error) (*milvuspb.SearchResults, error) {
		return &milvuspb.SearchResults{Status: errStatus(err), CollectionName: req.GetCollectionName()}, nil
	}
	if req.GetSearchByPrimaryKeys() || req.GetIds() != nil {
		return fail(merr.Wrapf(merr.ErrOperationNotSupported, "search by primary keys is not supported"))
	}
	if len(req.GetSubReqs()) > 0 || req.GetFunctionScore() != nil {
		return fail(merr.Wrapf(merr.ErrOperationNotSupported, "search with sub-requests or function score is not supported"))
	}
	it, err := parseSearchIter(req.GetSearchParams()) // search_iter.go
	if err != nil {
		return fail(err)
	}
	sp, err := parseSearchParams(req.GetSearchParams())
	if err != nil {
		return fail(err)
	}
	it.adjust(&sp)
	if it.v2 {
		return s.searchIterV2(ctx, req, sp, it)
	}
	db := dbName(ctx, req.GetDbName())
	dim := 0
	var pk *schemapb.FieldSchema
	if info, err := s.eng.DescribeCollection(db, req.GetCollectionName()); err == nil {
		if err := it.checkCollection(info.ID); err != nil {
			return fail(err)
		}
		dim = vectorDim(info.Schema, sp.AnnsField)
		pk = primaryField(info.Schema)
	}
	vecs, err := decodePlaceholderGroup(req.GetPlaceholderGroup(), req.GetNq(), dim)
	var raw [][]byte
	var rawType schemapb.DataType
	if errors.Is(err, errRawPlaceholder) {
		raw, rawType, err = decodeRawPlaceholders(req.GetPlaceholderGroup(), req.GetNq())
	}
	if err != nil {
		return fail(err)
	}
	res, err := s.eng.Search(ctx, &engine.SearchRequest{
		DB:           db,
		Collection:   req.GetCollectionName(),
		Partitions:   req.GetPartitionNames(),
		AnnsField:    sp.AnnsField,
		Vectors:      vecs,
		RawVectors:   raw,
		RawType:      rawType,
		TopK:         sp.TopK,
		Offset:       sp.Offset,
		MetricType:   sp.MetricType,
		Params:       sp.Params,
		Filter:       req.GetDsl(),
		FilterParams: req.GetExprTemplateValues(),
		OutputFields: req.GetOutputFields(),
		RoundDecimal: sp.RoundDecimal,

		GroupByField:    sp.GroupBy,
		GroupSize:       sp.GroupSize,
		StrictGroupSize: sp.StrictGroup,
	})
	if err != nil {
		return fail(err)
	}
	withPrimaryKey(res, pk)
	return &milvuspb.SearchResults{Status: successStatus(), Results: res, CollectionName: req.GetCollectionName()}, nil
}

// withPrimaryKey makes the primary key the last of res's output fields, its
// column built from res.Ids, as Milvus 2.6 returns every search: the
// Node.js SDK reads a hit's primary key from the output fields, not from
// Ids. A primary key column the engine output (requested by name or "*")
// is moved, not repeated. pk nil (collection unknown) leaves res as is.
func withPrimaryKey(res *schemapb.SearchResultData, pk *schemapb.FieldSchema) {
	if pk == nil || res == nil {
		return
	}
	name := pk.GetName()
	fields := res.FieldsData[:0:0]
	for _, fd := range res.GetFieldsData() {
		if fd.GetFieldName() != name || fd.GetIsDynamic() {
			fields = append(fields, fd)
		}
	}
	outs := make([]string, 0, len(res.GetOutputFields())+1)
	for _, o := range res.GetOutputFields() {
		if o != name {
			outs = append(outs, o)
		}
	}
	sc := &schemapb.ScalarField{}
	if pk.GetDataType() == schemapb.DataType_VarChar {
		data := res.GetIds().GetStrId().GetData()
		if data == nil {
			data = []string{}
		}
		sc.Data = &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: data}}
	} else {
		data := res.GetIds().GetIntId().GetData()
		if data == nil {
			data = []int64{}
		}
		sc.Data = &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: data}}
	}
	res.FieldsData = append(fields, &schemapb.FieldData{
		Type: pk.GetDataType(), FieldName: name, FieldId: pk.GetFieldID(),
		Field: &schemapb.FieldData_Scalars{Scalars: sc},
	})
	res.OutputFields = append(outs, name)
	if res.PrimaryFieldName == "" {
		res.PrimaryFieldName = name
	}
}

// vectorDim is the dim of the named float vector field, or of the only
// float vector field when name is empty; 0 when unknown.
func vectorDim(schema *schemapb.CollectionSchema, name string) int {
	var found *schemapb.FieldSchema
	for _, f := range schema.GetFields() {
		if f.GetDataType() != schemapb.DataType_FloatVector {
			continue
		}
		if name == "" {
			if found != nil {
				return 0
			}
			found = f
		} else if f.GetName() == name {
			found = f
			break
		}
	}
	if found == nil {
		return 0
	}
	return fieldDim(found)
}

// fieldDim is a vector field's "dim" type parameter, 0 when absent.
func fieldDim(f *schemapb.FieldSchema) int {
	for _, kv := range f.GetTypeParams() {
		if kv.GetKey() == "dim" {
			d, err := strconv.Atoi(kv.GetValue())
			if err == nil && d > 0 {
				return d
			}
		}
	}
	return 0
}

// Query runs a scalar query; limit and offset come from QueryParams.
func (s *Server) Query(ctx context.Context, req *milvuspb.QueryRequest) (*milvuspb.QueryResults, error) {
	fail := func(err error) (*milvuspb.QueryResults, error) {
		return &milvuspb.QueryResults{Status: errStatus(err), CollectionName: req.GetCollectionName()}, nil
	}
	limit, offset, err := parseQueryParams(req)
	if err != nil {
		return fail(err)
	}
	qi, err := parseQueryIter(req.GetQueryParams()) // search_iter.go
	if err != nil {
		return fail(err)
	}
	if err := s.checkQueryIter(ctx, req, qi); err != nil {
		return fail(err)
	}
	cols, err := s.eng.Query(ctx, &engine.QueryRequest{
		DB:           dbName(ctx, req.GetDbName()),
		Collection:   req.GetCollectionName(),
		Partitions:   req.GetPartitionNames(),
		Filter:       req.GetExpr(),
		FilterParams: req.GetExprTemplateValues(),
		OutputFields: req.GetOutputFields(),
		Limit:        limit,
		Offset:       offset,
	})
	if err != nil {
		return fail(err)
	}
	out := req.GetOutputFields()
	if len(out) == 0 {
		out = make([]string, 0, len(cols))
		for _, c := range cols {
			out = append(out, c.GetFieldName())
		}
	}
	res := &milvuspb.QueryResults{Status: successStatus(), FieldsData: cols, CollectionName: req.GetCollectionName(), OutputFields: out}
	if qi.on && req.GetGuaranteeTimestamp() == 0 {
		res.SessionTs = s.tso.next() // the first page of an iterator, as Milvus
	}
	return res, nil
}

// parseQueryParams reads "limit" and "offset" from QueryParams.
func parseQueryParams(req *milvuspb.QueryRequest) (limit, offset int64, err error) {
	m := kvMap(req.GetQueryParams())
	if v := m[spLimit]; v != "" {
		l, err := parseIntParam(spLimit, v)
		if err != nil {
			return 0, 0, err
		}
		limit = int64(l)
	}
	if v := m[spOffset]; v != "" {
		o, err := parseIntParam(spOffset, v)
		if err != nil {
			return 0, 0, err
		}
		offset = int64(o)
	}
	return limit, offset, nil
}
