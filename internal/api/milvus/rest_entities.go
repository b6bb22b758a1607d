package milvus

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/expr"
	"github.com/tandem-db/tandem/internal/merr"
)

// restDefaultLimit is the REST search limit when none is given.
const restDefaultLimit = 100

// restScoreKey names the score of a REST search hit.
const restScoreKey = "distance"

type restInsertReq struct {
	restBase
	PartitionName string          `json:"partitionName"`
	Data          json.RawMessage `json:"data"`
}

// restInsertColumns decodes the rows of an insert or upsert and converts
// them into columns for the collection's schema.
func (s *Server) restInsertColumns(db string, req *restInsertReq, upsert bool) ([]*schemapb.FieldData, int, error) {
	name, err := req.collection()
	if err != nil {
		return nil, 0, err
	}
	rows, err := decodeRows(req.Data)
	if err != nil {
		return nil, 0, err
	}
	info, err := s.eng.DescribeCollection(db, name)
	if err != nil {
		return nil, 0, err
	}
	cols, err := rowsToColumns(info.Schema, rows, upsert)
	if err != nil {
		return nil, 0, err
	}
	return cols, len(rows), nil
}

func (s *Server) restInsert(ctx context.Context, req *restInsertReq) (any, error) {
	ctx, err := withRequestID(ctx)
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	cols, n, err := s.restInsertColumns(db, req, false)
	if err != nil {
		return nil, err
	}
	ids, err := s.eng.Insert(ctx, db, req.CollectionName, req.PartitionName, cols, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"insertCount": n, "insertIds": idsValues(ids)}, nil
}

func (s *Server) restUpsert(ctx context.Context, req *restInsertReq) (any, error) {
	ctx, err := withRequestID(ctx)
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	cols, n, err := s.restInsertColumns(db, req, true)
	if err != nil {
		return nil, err
	}
	ids, err := s.eng.Upsert(ctx, db, req.CollectionName, req.PartitionName, cols, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"upsertCount": n, "upsertIds": idsValues(ids)}, nil
}

type restDeleteReq struct {
	restBase
	PartitionName string          `json:"partitionName"`
	Filter        string          `json:"filter"`
	ID            json.RawMessage `json:"id"`
}

func (s *Server) restDelete(ctx context.Context, req *restDeleteReq) (any, error) {
	ctx, err := withRequestID(ctx)
	if err != nil {
		return nil, err
	}
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	filter := req.Filter
	if filter == "" && !isNull(req.ID) {
		if filter, err = s.restPKFilter(db, name, req.ID); err != nil {
			return nil, err
		}
	}
	if filter == "" {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "filter is required")
	}
	n, err := s.eng.Delete(ctx, db, name, req.PartitionName, filter)
	if err != nil {
		return nil, err
	}
	return map[string]any{"deleteCount": n}, nil
}

// restPKFilter builds "pk in [...]" for the collection's primary key.
func (s *Server) restPKFilter(db, coll string, ids json.RawMessage) (string, error) {
	info, err := s.eng.DescribeCollection(db, coll)
	if err != nil {
		return "", err
	}
	pk := primaryField(info.Schema)
	if pk == nil {
		return "", merr.Wrapf(merr.ErrServiceInternal, "collection %q has no primary key", coll)
	}
	return pkFilter(pk, ids)
}

type restSearchReq struct {
	restBase
	Data           [][]float32                `json:"data"`
	AnnsField      string                     `json:"annsField"`
	Filter         string                     `json:"filter"`
	Limit          int                        `json:"limit"`
	Offset         int                        `json:"offset"`
	OutputFields   []string                   `json:"outputFields"`
	SearchParams   map[string]json.RawMessage `json:"searchParams"`
	PartitionNames []string                   `json:"partitionNames"`
	GroupingField  string                     `json:"groupingField"`
	ExprParams     map[string]json.RawMessage `json:"exprParams"`
}

// restSearchParams flattens REST searchParams: metricType (or
// metric_type), the "params" object, and any other members.
func restSearchParams(sp map[string]json.RawMessage) (metric string, params map[string]string, err error) {
	params = map[string]string{}
	for k, v := range sp {
		switch k {
		case "metricType", "metric_type":
			if metric, err = jsonString(v); err != nil {
				return "", nil, merr.InvalidParam("searchParams.%s must be a string", k)
			}
		case "params":
			if isNull(v) {
				continue
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(v, &obj); err != nil {
				return "", nil, merr.InvalidParam("searchParams.params must be an object: %s", describeJSONError(err, "searchParams.params", nil))
			}
			for pk, pv := range obj {
				params[pk] = jsonScalarString(pv)
			}
		}
	}
	for k, v := range sp {
		switch k {
		case "metricType", "metric_type", "params":
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = jsonScalarString(v)
		}
	}
	return metric, params, nil
}

func (s *Server) restSearch(ctx context.Context, req *restSearchReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	if req.GroupingField != "" {
		return nil, merr.Wrapf(merr.ErrOperationNotSupported, "search with groupingField is not supported")
	}
	tmpl, err := expr.JSONParamsToTemplates(req.ExprParams)
	if err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "data (the search vectors) is required")
	}
	metric, params, err := restSearchParams(req.SearchParams)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = restDefaultLimit
	}
	db := dbName(ctx, req.DbName)
	info, err := s.eng.DescribeCollection(db, name)
	if err != nil {
		return nil, err
	}
	res, err := s.eng.Search(ctx, &engine.SearchRequest{
		DB:           db,
		Collection:   name,
		Partitions:   req.PartitionNames,
		AnnsField:    req.AnnsField,
		Vectors:      req.Data,
		TopK:         limit,
		Offset:       req.Offset,
		MetricType:   metric,
		Params:       params,
		Filter:       req.Filter,
		FilterParams: tmpl,
		OutputFields: req.OutputFields,
		RoundDecimal: -1,
	})
	if err != nil {
		return nil, err
	}
	pkName := res.GetPrimaryFieldName()
	if pkName == "" {
		if pk := primaryField(info.Schema); pk != nil {
			pkName = pk.GetName()
		}
	}
	n := len(res.GetScores())
	rows, err := columnsToRows(res.GetFieldsData(), n, req.OutputFields)
	if err != nil {
		return nil, err
	}
	for i, row := range rows {
		row[pkName] = idAt(res.GetIds(), i)
		row[restScoreKey] = jsonSafeFloat(float64(res.GetScores()[i]), 32)
	}
	topks := res.GetTopks()
	if topks == nil {
		topks = []int64{}
	}
	return restExtra{data: rows, extra: map[string]any{"topks": topks}}, nil
}

type restQueryReq struct {
	restBase
	Filter         string                     `json:"filter"`
	Limit          int64                      `json:"limit"`
	Offset         int64                      `json:"offset"`
	OutputFields   []string                   `json:"outputFields"`
	PartitionNames []string                   `json:"partitionNames"`
	ExprParams     map[string]json.RawMessage `json:"exprParams"`
}

func (s *Server) restQuery(ctx context.Context, req *restQueryReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	tmpl, err := expr.JSONParamsToTemplates(req.ExprParams)
	if err != nil {
		return nil, err
	}
	return s.restRunQuery(ctx, dbName(ctx, req.DbName), name, req.Filter, tmpl, req.OutputFields, req.PartitionNames, req.Limit, req.Offset)
}

// restRunQuery runs a query and returns its rows.
func (s *Server) restRunQuery(ctx context.Context, db, coll, filter string, tmpl map[string]*schemapb.TemplateValue,
	output, parts []string, limit, offset int64) (any, error) {
	cols, err := s.eng.Query(ctx, &engine.QueryRequest{
		DB:           db,
		Collection:   coll,
		Partitions:   parts,
		Filter:       filter,
		FilterParams: tmpl,
		OutputFields: output,
		Limit:        limit,
		Offset:       offset,
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, c := range cols {
		if !c.GetIsDynamic() {
			n = max(n, fieldLen(c))
		}
	}
	if n == 0 && len(cols) > 0 {
		n = fieldLen(cols[0])
	}
	return columnsToRows(cols, n, output)
}

type restGetReq struct {
	restBase
	ID             json.RawMessage `json:"id"`
	OutputFields   []string        `json:"outputFields"`
	PartitionNames []string        `json:"partitionNames"`
}

func (s *Server) restGet(ctx context.Context, req *restGetReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	filter, err := s.restPKFilter(db, name, req.ID)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(filter, "in []") {
		return []map[string]any{}, nil
	}
	return s.restRunQuery(ctx, db, name, filter, nil, req.OutputFields, req.PartitionNames, 0, 0)
}
