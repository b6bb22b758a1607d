package milvus

import (
	"context"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// Index parameter keys.
const (
	ipIndexType  = "index_type"
	ipMetricType = "metric_type"
	ipParams     = "params"
)

// flattenIndexParams turns CreateIndexRequest.ExtraParams into one flat
// map: index_type, metric_type and the members of the "params" JSON
// object (numbers as their literal text). Top-level keys win over keys of
// the same name inside "params".
func flattenIndexParams(kvs []*commonpb.KeyValuePair) (map[string]string, error) {
	out := map[string]string{}
	top := kvMap(kvs)
	if p := strings.TrimSpace(top[ipParams]); p != "" {
		if err := flattenJSONParams(p, out); err != nil {
			return nil, err
		}
	}
	for k, v := range top {
		if k == ipParams {
			continue
		}
		out[k] = v
	}
	return out, nil
}

// CreateIndex creates an index. An empty index name defaults to the
// field's name, as Milvus does.
func (s *Server) CreateIndex(ctx context.Context, req *milvuspb.CreateIndexRequest) (*commonpb.Status, error) {
	params, err := flattenIndexParams(req.GetExtraParams())
	if err != nil {
		return errStatus(err), nil
	}
	name := req.GetIndexName()
	if name == "" {
		name = req.GetFieldName()
	}
	return errStatus(s.eng.CreateIndex(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetFieldName(), name, params)), nil
}

// indexDescription converts an engine IndexInfo.
func indexDescription(ix engine.IndexInfo) *milvuspb.IndexDescription {
	return &milvuspb.IndexDescription{
		IndexName:            ix.IndexName,
		IndexID:              ix.IndexID,
		Params:               mapKVs(ix.Params),
		FieldName:            ix.FieldName,
		IndexedRows:          ix.IndexedRows,
		TotalRows:            ix.TotalRows,
		PendingIndexRows:     ix.PendingRows,
		State:                ix.State,
		IndexStateFailReason: ix.FailReason,
	}
}

// DescribeIndex lists a collection's indexes, optionally by field or name.
func (s *Server) DescribeIndex(ctx context.Context, req *milvuspb.DescribeIndexRequest) (*milvuspb.DescribeIndexResponse, error) {
	ixs, err := s.eng.DescribeIndex(dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetFieldName(), req.GetIndexName())
	if err != nil {
		return &milvuspb.DescribeIndexResponse{Status: errStatus(err)}, nil
	}
	resp := &milvuspb.DescribeIndexResponse{Status: successStatus()}
	for _, ix := range ixs {
		resp.IndexDescriptions = append(resp.IndexDescriptions, indexDescription(ix))
	}
	return resp, nil
}

// DropIndex drops an index.
func (s *Server) DropIndex(ctx context.Context, req *milvuspb.DropIndexRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.DropIndex(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetFieldName(), req.GetIndexName())), nil
}

// GetIndexState reports the state of an index.
func (s *Server) GetIndexState(ctx context.Context, req *milvuspb.GetIndexStateRequest) (*milvuspb.GetIndexStateResponse, error) {
	ixs, err := s.eng.DescribeIndex(dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetFieldName(), req.GetIndexName())
	if err != nil {
		return &milvuspb.GetIndexStateResponse{Status: errStatus(err)}, nil
	}
	if len(ixs) == 0 {
		return &milvuspb.GetIndexStateResponse{Status: errStatus(merr.IndexNotFound(req.GetIndexName()))}, nil
	}
	state := commonpb.IndexState_Finished
	for _, ix := range ixs {
		if ix.State != commonpb.IndexState_Finished {
			state = ix.State
		}
	}
	return &milvuspb.GetIndexStateResponse{Status: successStatus(), State: state}, nil
}

// GetIndexBuildProgress reports how many rows an index covers.
func (s *Server) GetIndexBuildProgress(ctx context.Context, req *milvuspb.GetIndexBuildProgressRequest) (*milvuspb.GetIndexBuildProgressResponse, error) {
	ixs, err := s.eng.DescribeIndex(dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetFieldName(), req.GetIndexName())
	if err != nil {
		return &milvuspb.GetIndexBuildProgressResponse{Status: errStatus(err)}, nil
	}
	if len(ixs) == 0 {
		return &milvuspb.GetIndexBuildProgressResponse{Status: errStatus(merr.IndexNotFound(req.GetIndexName()))}, nil
	}
	resp := &milvuspb.GetIndexBuildProgressResponse{Status: successStatus()}
	for _, ix := range ixs {
		resp.IndexedRows += ix.IndexedRows
		resp.TotalRows += ix.TotalRows
	}
	return resp, nil
}
