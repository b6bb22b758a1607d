package milvus

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// Defaults of the REST quick create, as Milvus has them.
const (
	restDefaultPKName     = "id"
	restDefaultVectorName = "vector"
	restDefaultMetric     = "COSINE"
	restDefaultMaxLength  = "65535"
	restAutoIndex         = "AUTOINDEX"
)

// restField is a field of a REST collection schema.
type restField struct {
	FieldName         string                     `json:"fieldName"`
	DataType          string                     `json:"dataType"`
	ElementDataType   string                     `json:"elementDataType"`
	IsPrimary         bool                       `json:"isPrimary"`
	IsPartitionKey    bool                       `json:"isPartitionKey"`
	IsClusteringKey   bool                       `json:"isClusteringKey"`
	Nullable          bool                       `json:"nullable"`
	DefaultValue      json.RawMessage            `json:"defaultValue"`
	Description       string                     `json:"description"`
	ElementTypeParams map[string]json.RawMessage `json:"elementTypeParams"`
}

// restSchema is a REST collection schema.
type restSchema struct {
	AutoID              bool        `json:"autoID"`
	EnableDynamicField  bool        `json:"enableDynamicField"`
	EnabledDynamicField *bool       `json:"enabledDynamicField"`
	Description         string      `json:"description"`
	Fields              []restField `json:"fields"`
}

// restIndexParam is one index of indexParams.
type restIndexParam struct {
	FieldName  string                     `json:"fieldName"`
	IndexName  string                     `json:"indexName"`
	MetricType string                     `json:"metricType"`
	IndexType  string                     `json:"indexType"`
	Params     map[string]json.RawMessage `json:"params"`
}

type restCreateCollectionReq struct {
	restBase
	Dimension        int64                      `json:"dimension"`
	IDType           string                     `json:"idType"`
	AutoID           bool                       `json:"autoID"`
	PrimaryFieldName string                     `json:"primaryFieldName"`
	VectorFieldName  string                     `json:"vectorFieldName"`
	MetricType       string                     `json:"metricType"`
	Description      string                     `json:"description"`
	Schema           *restSchema                `json:"schema"`
	IndexParams      []restIndexParam           `json:"indexParams"`
	Params           map[string]json.RawMessage `json:"params"`
}

// parseDataType maps a REST data type name ("Int64", "floatvector") to
// its enum, case-insensitively.
func parseDataType(name string) (schemapb.DataType, error) {
	for n, v := range schemapb.DataType_value {
		if strings.EqualFold(n, name) && v != 0 {
			return schemapb.DataType(v), nil
		}
	}
	return 0, merr.InvalidParam("unknown data type %q", name)
}

// parseConsistency maps "Strong", "Session", "Bounded", "Eventually"
// (case-insensitive) or a number to a consistency level.
func parseConsistency(s string) (commonpb.ConsistencyLevel, error) {
	for n, v := range commonpb.ConsistencyLevel_value {
		if strings.EqualFold(n, s) {
			return commonpb.ConsistencyLevel(v), nil
		}
	}
	if v, err := strconv.Atoi(s); err == nil {
		if _, known := commonpb.ConsistencyLevel_name[int32(v)]; known {
			return commonpb.ConsistencyLevel(v), nil
		}
	}
	return 0, merr.InvalidParam("unknown consistency level %q", s)
}

// restToSchema builds the collection schema of a create request: the
// given schema, or the quick-create shape (primary key + one vector).
func restToSchema(req *restCreateCollectionReq, params map[string]string) (*schemapb.CollectionSchema, error) {
	if req.Schema == nil || len(req.Schema.Fields) == 0 {
		if req.Dimension <= 0 {
			return nil, merr.Wrap(merr.ErrMissingRequiredParams, "dimension is required to quickly create a collection (or give a schema)")
		}
		pkName := req.PrimaryFieldName
		if pkName == "" {
			pkName = restDefaultPKName
		}
		vecName := req.VectorFieldName
		if vecName == "" {
			vecName = restDefaultVectorName
		}
		pk := &schemapb.FieldSchema{Name: pkName, IsPrimaryKey: true, AutoID: req.AutoID, DataType: schemapb.DataType_Int64}
		switch strings.ToLower(req.IDType) {
		case "", "int64":
		case "varchar", "string":
			maxLen := params["max_length"]
			if maxLen == "" {
				maxLen = restDefaultMaxLength
			}
			pk.DataType = schemapb.DataType_VarChar
			pk.TypeParams = []*commonpb.KeyValuePair{{Key: "max_length", Value: maxLen}}
		default:
			return nil, merr.Wrapf(merr.ErrCheckPrimaryKey, "idType %q", req.IDType)
		}
		dynamic := true
		if v, set := params["enableDynamicField"]; set {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, merr.InvalidParam("params.enableDynamicField must be a boolean, got %q", v)
			}
			dynamic = b
		}
		return &schemapb.CollectionSchema{
			Name:               req.CollectionName,
			Description:        req.Description,
			AutoID:             req.AutoID,
			EnableDynamicField: dynamic,
			Fields: []*schemapb.FieldSchema{pk, {
				Name:       vecName,
				DataType:   schemapb.DataType_FloatVector,
				TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.FormatInt(req.Dimension, 10)}},
			}},
		}, nil
	}
	rs := req.Schema
	dynamic := rs.EnableDynamicField
	if rs.EnabledDynamicField != nil {
		dynamic = dynamic || *rs.EnabledDynamicField
	}
	desc := rs.Description
	if desc == "" {
		desc = req.Description
	}
	schema := &schemapb.CollectionSchema{Name: req.CollectionName, Description: desc, AutoID: rs.AutoID, EnableDynamicField: dynamic}
	for _, rf := range rs.Fields {
		f, err := restToField(rf, rs.AutoID)
		if err != nil {
			return nil, err
		}
		schema.Fields = append(schema.Fields, f)
	}
	return schema, nil
}

// restToField converts one REST field.
func restToField(rf restField, autoID bool) (*schemapb.FieldSchema, error) {
	dt, err := parseDataType(rf.DataType)
	if err != nil {
		return nil, merr.InvalidParam("field %q: unknown data type %q", rf.FieldName, rf.DataType)
	}
	f := &schemapb.FieldSchema{
		Name:            rf.FieldName,
		Description:     rf.Description,
		DataType:        dt,
		IsPrimaryKey:    rf.IsPrimary,
		AutoID:          rf.IsPrimary && autoID,
		IsPartitionKey:  rf.IsPartitionKey,
		IsClusteringKey: rf.IsClusteringKey,
		Nullable:        rf.Nullable,
	}
	if dt == schemapb.DataType_Array {
		if f.ElementType, err = parseDataType(rf.ElementDataType); err != nil {
			return nil, merr.InvalidParam("field %q: unknown element data type %q", rf.FieldName, rf.ElementDataType)
		}
	}
	tp := map[string]string{}
	for k, v := range rf.ElementTypeParams {
		tp[k] = jsonScalarString(v)
	}
	f.TypeParams = mapKVs(tp)
	if !isNull(rf.DefaultValue) {
		if f.DefaultValue, err = defaultValue(dt, rf.DefaultValue); err != nil {
			return nil, merr.InvalidParam("field %q: default value: %v", rf.FieldName, err)
		}
	}
	return f, nil
}

// defaultValue converts a JSON default value to the field's type.
func defaultValue(dt schemapb.DataType, raw json.RawMessage) (*schemapb.ValueField, error) {
	switch dt {
	case schemapb.DataType_Bool:
		v, err := jsonBool(raw)
		return &schemapb.ValueField{Data: &schemapb.ValueField_BoolData{BoolData: v}}, err
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		bits := map[schemapb.DataType]int{schemapb.DataType_Int8: 8, schemapb.DataType_Int16: 16, schemapb.DataType_Int32: 32}[dt]
		v, err := jsonInt(raw, bits)
		return &schemapb.ValueField{Data: &schemapb.ValueField_IntData{IntData: int32(v)}}, err
	case schemapb.DataType_Int64:
		v, err := jsonInt(raw, 64)
		return &schemapb.ValueField{Data: &schemapb.ValueField_LongData{LongData: v}}, err
	case schemapb.DataType_Float:
		v, err := jsonFloat(raw, 32)
		return &schemapb.ValueField{Data: &schemapb.ValueField_FloatData{FloatData: float32(v)}}, err
	case schemapb.DataType_Double:
		v, err := jsonFloat(raw, 64)
		return &schemapb.ValueField{Data: &schemapb.ValueField_DoubleData{DoubleData: v}}, err
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		v, err := jsonString(raw)
		return &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: v}}, err
	case schemapb.DataType_JSON:
		return &schemapb.ValueField{Data: &schemapb.ValueField_BytesData{BytesData: []byte(raw)}}, nil
	}
	return nil, merr.InvalidParam("default values are not supported for %s", dt)
}

// restIndexParams flattens one REST index definition into engine params.
func restIndexParams(ip restIndexParam) map[string]string {
	params := map[string]string{}
	for k, v := range ip.Params {
		params[k] = jsonScalarString(v)
	}
	if ip.IndexType != "" {
		params[ipIndexType] = ip.IndexType
	}
	if ip.MetricType != "" {
		params[ipMetricType] = ip.MetricType
	}
	// Accept the camel-case spellings inside params too.
	for from, to := range map[string]string{"indexType": ipIndexType, "metricType": ipMetricType} {
		if v, set := params[from]; set {
			if _, has := params[to]; !has {
				params[to] = v
			}
			delete(params, from)
		}
	}
	return params
}

// restCreateCollection creates a collection; with a quick-create request
// or indexParams it also creates the indexes and loads the collection, as
// Milvus does.
func (s *Server) restCreateCollection(ctx context.Context, req *restCreateCollectionReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	for k, v := range req.Params {
		params[k] = jsonScalarString(v)
	}
	schema, err := restToSchema(req, params)
	if err != nil {
		return nil, err
	}
	opts := engine.CreateCollectionOptions{ShardsNum: 1, ConsistencyLevel: commonpb.ConsistencyLevel_Bounded}
	if v := params["shardsNum"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, merr.InvalidParam("params.shardsNum must be an integer, got %q", v)
		}
		opts.ShardsNum = int32(n)
	}
	if v := params["consistencyLevel"]; v != "" {
		if opts.ConsistencyLevel, err = parseConsistency(v); err != nil {
			return nil, err
		}
	}
	if v := params["partitionsNum"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, merr.InvalidParam("params.partitionsNum must be an integer, got %q", v)
		}
		opts.NumPartitions = n
	}
	if v := params["ttlSeconds"]; v != "" {
		opts.Properties = append(opts.Properties, &commonpb.KeyValuePair{Key: "collection.ttl.seconds", Value: v})
	}
	db := dbName(ctx, req.DbName)
	if err := s.eng.CreateCollection(ctx, db, schema, opts); err != nil {
		return nil, err
	}
	quick := req.Schema == nil || len(req.Schema.Fields) == 0
	indexes := req.IndexParams
	if quick && len(indexes) == 0 {
		metric := req.MetricType
		if metric == "" {
			metric = restDefaultMetric
		}
		vec := schema.Fields[1].GetName()
		indexes = []restIndexParam{{FieldName: vec, IndexName: vec, MetricType: metric, IndexType: restAutoIndex}}
	}
	if len(indexes) == 0 {
		return nil, nil
	}
	for _, ip := range indexes {
		if err := s.restCreateOneIndex(ctx, db, name, ip); err != nil {
			return nil, err
		}
	}
	return nil, s.eng.LoadCollection(ctx, db, name)
}

func (s *Server) restCreateOneIndex(ctx context.Context, db, coll string, ip restIndexParam) error {
	if ip.FieldName == "" {
		return merr.Wrap(merr.ErrMissingRequiredParams, "indexParams[].fieldName is required")
	}
	idxName := ip.IndexName
	if idxName == "" {
		idxName = ip.FieldName
	}
	return s.eng.CreateIndex(ctx, db, coll, ip.FieldName, idxName, restIndexParams(ip))
}

func (s *Server) restDropCollection(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DropCollection(ctx, dbName(ctx, req.DbName), name)
}

func (s *Server) restHasCollection(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	_, err = s.eng.DescribeCollection(dbName(ctx, req.DbName), name)
	if errors.Is(err, merr.ErrCollectionNotFound) {
		return map[string]any{"has": false}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"has": true}, nil
}

// restKV is a key-value pair in REST output.
type restKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func restKVs(kvs []*commonpb.KeyValuePair) []restKV {
	out := make([]restKV, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, restKV{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	return out
}

func (s *Server) restDescribeCollection(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	info, err := s.eng.DescribeCollection(db, name)
	if err != nil {
		return nil, err
	}
	fields := []map[string]any{}
	autoID := false
	for _, f := range info.Schema.GetFields() {
		if f.GetIsDynamic() {
			continue
		}
		autoID = autoID || f.GetAutoID()
		fm := map[string]any{
			"name":          f.GetName(),
			"id":            f.GetFieldID(),
			"type":          f.GetDataType().String(),
			"description":   f.GetDescription(),
			"primaryKey":    f.GetIsPrimaryKey(),
			"autoId":        f.GetAutoID(),
			"partitionKey":  f.GetIsPartitionKey(),
			"clusteringKey": f.GetIsClusteringKey(),
			"nullable":      f.GetNullable(),
			"params":        restKVs(f.GetTypeParams()),
		}
		if f.GetDataType() == schemapb.DataType_Array {
			fm["elementType"] = f.GetElementType().String()
		}
		fields = append(fields, fm)
	}
	indexes := []map[string]any{}
	if ixs, err := s.eng.DescribeIndex(db, name, "", ""); err == nil {
		for _, ix := range ixs {
			indexes = append(indexes, map[string]any{
				"fieldName":  ix.FieldName,
				"indexName":  ix.IndexName,
				"metricType": ix.Params[ipMetricType],
			})
		}
	}
	load := commonpb.LoadState_LoadStateNotLoad
	if info.Loaded {
		load = commonpb.LoadState_LoadStateLoaded
	}
	return map[string]any{
		"collectionName":     info.Name,
		"collectionID":       info.ID,
		"dbName":             info.DB,
		"description":        info.Schema.GetDescription(),
		"autoId":             autoID || info.Schema.GetAutoID(),
		"consistencyLevel":   info.ConsistencyLevel.String(),
		"enableDynamicField": info.Schema.GetEnableDynamicField(),
		"fields":             fields,
		"functions":          []any{},
		"indexes":            indexes,
		"load":               load.String(),
		"partitionsNum":      len(info.Partitions),
		"properties":         restKVs(info.Properties),
		"shardsNum":          max(info.ShardsNum, 1),
		"aliases":            append([]string{}, info.Aliases...),
		"createTime":         hybridTS(info.CreatedAt),
	}, nil
}

func (s *Server) restListCollections(ctx context.Context, req *restBase) (any, error) {
	infos, err := s.eng.ListCollections(dbName(ctx, req.DbName))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(infos))
	for _, info := range infos {
		names = append(names, info.Name)
	}
	sort.Strings(names)
	return names, nil
}

func (s *Server) restCollectionStats(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	st, err := s.eng.CollectionStats(dbName(ctx, req.DbName), name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"rowCount": st.RowCount}, nil
}

func (s *Server) restLoadCollection(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.LoadCollection(ctx, dbName(ctx, req.DbName), name)
}

func (s *Server) restReleaseCollection(ctx context.Context, req *restBase) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.ReleaseCollection(ctx, dbName(ctx, req.DbName), name)
}

type restPartitionsReq struct {
	restBase
	PartitionName  string   `json:"partitionName"`
	PartitionNames []string `json:"partitionNames"`
}

func (s *Server) restGetLoadState(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	if err := s.checkPartitions(db, name, req.PartitionNames); err != nil {
		return nil, err
	}
	st, err := s.eng.GetLoadState(db, name)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"loadState": st.String()}
	switch st {
	case commonpb.LoadState_LoadStateLoaded:
		out["loadProgress"] = 100
	case commonpb.LoadState_LoadStateLoading:
		out["loadProgress"] = 0
	}
	return out, nil
}

func (r *restPartitionsReq) partition() (string, error) {
	if r.PartitionName == "" {
		return "", merr.Wrap(merr.ErrMissingRequiredParams, "partitionName is required")
	}
	return r.PartitionName, nil
}

func (s *Server) restCreatePartition(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	part, err := req.partition()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.CreatePartition(ctx, dbName(ctx, req.DbName), name, part)
}

func (s *Server) restDropPartition(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	part, err := req.partition()
	if err != nil {
		return nil, err
	}
	return nil, s.eng.DropPartition(ctx, dbName(ctx, req.DbName), name, part)
}

func (s *Server) restHasPartition(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	part, err := req.partition()
	if err != nil {
		return nil, err
	}
	parts, err := s.eng.ListPartitions(dbName(ctx, req.DbName), name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"has": hasPartition(parts, part)}, nil
}

func (s *Server) restListPartitions(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	parts, err := s.eng.ListPartitions(dbName(ctx, req.DbName), name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		names = append(names, p.Name)
	}
	return names, nil
}

func (s *Server) restLoadPartitions(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	if err := s.checkPartitions(db, name, req.PartitionNames); err != nil {
		return nil, err
	}
	return nil, s.eng.LoadCollection(ctx, db, name)
}

func (s *Server) restReleasePartitions(ctx context.Context, req *restPartitionsReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	db := dbName(ctx, req.DbName)
	if err := s.checkPartitions(db, name, req.PartitionNames); err != nil {
		return nil, err
	}
	return nil, s.eng.ReleaseCollection(ctx, db, name)
}

type restIndexReq struct {
	restBase
	IndexName   string           `json:"indexName"`
	FieldName   string           `json:"fieldName"`
	IndexParams []restIndexParam `json:"indexParams"`
}

func (s *Server) restCreateIndex(ctx context.Context, req *restIndexReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	if len(req.IndexParams) == 0 {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "indexParams is required")
	}
	db := dbName(ctx, req.DbName)
	for _, ip := range req.IndexParams {
		if err := s.restCreateOneIndex(ctx, db, name, ip); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (s *Server) restDescribeIndex(ctx context.Context, req *restIndexReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	ixs, err := s.eng.DescribeIndex(dbName(ctx, req.DbName), name, req.FieldName, req.IndexName)
	if err != nil {
		return nil, err
	}
	if len(ixs) == 0 && req.IndexName != "" {
		return nil, merr.IndexNotFound(req.IndexName)
	}
	out := make([]map[string]any, 0, len(ixs))
	for _, ix := range ixs {
		params := map[string]string{}
		for k, v := range ix.Params {
			if k != ipIndexType && k != ipMetricType {
				params[k] = v
			}
		}
		out = append(out, map[string]any{
			"indexName":   ix.IndexName,
			"fieldName":   ix.FieldName,
			"indexType":   ix.Params[ipIndexType],
			"metricType":  ix.Params[ipMetricType],
			"indexState":  ix.State.String(),
			"indexedRows": ix.IndexedRows,
			"totalRows":   ix.TotalRows,
			"pendingRows": ix.PendingRows,
			"failReason":  "",
			"params":      params,
		})
	}
	return out, nil
}

func (s *Server) restDropIndex(ctx context.Context, req *restIndexReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	if req.IndexName == "" {
		return nil, merr.Wrap(merr.ErrMissingRequiredParams, "indexName is required")
	}
	return nil, s.eng.DropIndex(ctx, dbName(ctx, req.DbName), name, req.FieldName, req.IndexName)
}

func (s *Server) restListIndexes(ctx context.Context, req *restIndexReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	ixs, err := s.eng.DescribeIndex(dbName(ctx, req.DbName), name, "", "")
	if err != nil {
		if errors.Is(err, merr.ErrIndexNotFound) {
			return []string{}, nil
		}
		return nil, err
	}
	names := make([]string, 0, len(ixs))
	for _, ix := range ixs {
		names = append(names, ix.IndexName)
	}
	return names, nil
}
